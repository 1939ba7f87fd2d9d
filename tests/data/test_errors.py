"""Error types: what a worker process raises must reach the caller intact."""
import pickle

import pytest

from spotscale.data.errors import AnnotationError, CheckpointError, FileError, PhotoError


@pytest.mark.parametrize("cls", [FileError, PhotoError, AnnotationError, CheckpointError])
def test_file_errors_survive_pickling_with_path_and_cause(cls):
    err = pickle.loads(pickle.dumps(cls("/photos/leg.jpg", "truncated JPEG")))
    assert type(err) is cls
    assert (err.path, err.cause, str(err)) == ("/photos/leg.jpg", "truncated JPEG", "/photos/leg.jpg: truncated JPEG")


def test_a_file_error_raised_in_a_worker_process_reaches_the_caller():
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(1) as ex:
        with pytest.raises(PhotoError, match=r"^/nowhere/x\.jpg: "):
            ex.submit(_read_missing, "/nowhere/x.jpg").result()


def _read_missing(path: str):
    from spotscale.data.photo import read_photo
    return read_photo(path)

