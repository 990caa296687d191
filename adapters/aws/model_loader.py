"""botocore's data loader without its listing of every service, for a faster cold start.

Making a client loads the service's model and its endpoint rule set; botocore's `Loader` first
lists every service it knows for each of the two (`list_available_services`: some 400
directories, each listed and each of its versions checked, so about 1,800 system calls) only
to check that the asked name is among them. `DirectLoader` checks that one name's directory
instead (`list_api_versions`, which botocore then asks anyway for the latest version): the
same model and extras, the same `UnknownServiceError` (botocore's own path, taken for any name
it does not find), some tens of milliseconds less per cold process.

Its files are parsed into plain dicts (`PlainJSONFileLoader`): botocore's `JSONFileLoader`
parses into `OrderedDict`s (`object_pairs_hook`), which makes the C parser call back into
Python for every object: twice the time, 25 ms instead of 12 for the 1.3-MB endpoints.json
every first client loads. Plain dicts keep the files' order as well; botocore only reads
what it loads. tests/test_cold_start.py compares what it loads, order included, with
botocore's own loader.
"""

from __future__ import annotations

import json
import os
from typing import Any

from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader, instance_cache


class PlainJSONFileLoader(JSONFileLoader):
    """botocore's JSON file loader, parsing into plain (ordered) dicts."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            payload = fp.read().decode("utf-8")
        return json.loads(payload)


class DirectLoader(Loader):
    """A `botocore.loaders.Loader` whose `load_service_model` skips the listing of all
    services when the asked one's own directory holds the model type; files parsed by
    `PlainJSONFileLoader` unless told otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("file_loader") is None:
            kwargs["file_loader"] = PlainJSONFileLoader()
        super().__init__(*args, **kwargs)

    @instance_cache
    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        if not _plain_name(service_name):
            return super().load_service_model(service_name, type_name, api_version)
        try:
            versions = self.list_api_versions(service_name, type_name)
        except DataNotFoundError:  # unknown here: botocore's path raises its own error
            return super().load_service_model(service_name, type_name, api_version)
        if api_version is None:
            api_version = max(versions)  # what determine_latest_version returns
        model = self.load_data(os.path.join(service_name, api_version, type_name))
        extras = self._find_extras(service_name, type_name, api_version)
        self._extras_processor.process(model, extras)
        return model


def _plain_name(name: str) -> bool:
    """A name `list_available_services` could return: one directory, not a path."""
    return bool(name) and not name.startswith(".") and os.sep not in name and "/" not in name


def direct_loader(data_path: str | None) -> DirectLoader:
    """What `botocore.loaders.create_loader(data_path)` makes (AWS_DATA_PATH's extra search
    paths honoured), as a `DirectLoader`."""
    if data_path is None:
        return DirectLoader()
    paths = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
    return DirectLoader(extra_search_paths=paths)
