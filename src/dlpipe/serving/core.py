"""serve-local's ``ServerCore``: the models it serves, and a request's ``ModelSpec`` resolved as TF Serving resolves it.

A spec names a model and at most one of: a version (that version, if it is
available), a label (the version the model config's ``version_labels`` give
it; a label the config does not know is INVALID_ARGUMENT), or neither (the
newest available version). A version that is not available is NOT_FOUND
"Servable not found for request: Specific(<model>, <version>)", or
"...Latest(<model>)" (``model_servers/server_core.cc``,
``core/basic_manager.cc``).

Status answers come from the versions' recorded states (``get_model_status_impl.cc``):
one version when the spec names one, else all of them; a label in the spec is
ignored there. TF Serving refuses to start with labels in its config unless
``--allow_version_labels_for_unavailable_models`` is set, because it assigns
them before any version has loaded; serve-local refuses the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from dlpipe.errors import ConfigError
from dlpipe.layout import Layout
from dlpipe.serving.modelconfig import ModelServerConfig
from dlpipe.serving.repository import Repository, Retries
from dlpipe.serving.servable import SIGNATURE_DEF, Servable
from dlpipe.serving.status import Code, ServingError, invalid


class ServingCore:
    def __init__(self, repositories: Sequence[Repository], allow_labels_for_unavailable_models: bool = False) -> None:
        labelled = [(r.model, version) for r in repositories for version in r.labels.values()]
        if labelled and not allow_labels_for_unavailable_models:
            model, version = labelled[0]
            raise ConfigError(
                f"Request to assign label to version {version} of model {model}, which is not currently available "
                "for inference",
                "TF Serving refuses labels at start-up too, unless --allow-version-labels-for-unavailable-models "
                "(which the serving chart sets)",
            )
        self.repositories = {repository.model: repository for repository in repositories}

    @classmethod
    def from_config(
        cls, layout: Layout, config: ModelServerConfig, retries: Retries, allow_labels_for_unavailable_models: bool
    ) -> ServingCore:
        models = [Repository(layout, model, retries) for model in config.model_config_list.config]
        return cls(models, allow_labels_for_unavailable_models)

    def refresh(self) -> None:
        for repository in self.repositories.values():
            repository.refresh()

    def servable(self, spec: model_pb2.ModelSpec) -> Servable:
        if not spec.name:
            raise invalid("ModelSpec has no name specified.")
        repository = self.repositories.get(spec.name)
        choice = spec.WhichOneof("version_choice")
        if choice == "version_label":
            version = repository.labels.get(spec.version_label) if repository else None
            if version is None:
                raise invalid(f"Unrecognized servable version label: {spec.version_label}")
        else:
            version = spec.version.value if choice == "version" else None
        found = repository.servable(version) if repository else None
        if found is None:
            wanted = f"Latest({spec.name})" if version is None else f"Specific({spec.name}, {version})"
            raise ServingError(Code.NOT_FOUND, f"Servable not found for request: {wanted}")
        return found

    def model_status(self, spec: model_pb2.ModelSpec) -> get_model_status_pb2.GetModelStatusResponse:
        repository = self.repositories.get(spec.name)
        entries = repository.status() if repository else []
        if spec.HasField("version"):
            entries = [entry for entry in entries if entry.version == spec.version.value]
            if not entries:
                raise ServingError(Code.NOT_FOUND, f"Could not find version {spec.version.value} of model {spec.name}")
        elif not entries:
            raise ServingError(Code.NOT_FOUND, f"Could not find any versions of model {spec.name}")
        return get_model_status_pb2.GetModelStatusResponse(model_version_status=entries)

    def metadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        """The version's SignatureDefs, for the only metadata field TF Serving has (get_model_metadata_impl.cc)."""
        if not request.HasField("model_spec"):
            raise invalid("Missing ModelSpec")
        if not request.metadata_field:
            raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF:
                raise invalid(f"Metadata field {field} is not supported")
        found = self.servable(request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = found.version
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for name, signature in found.signatures.items():
            signatures.signature_def[name].CopyFrom(signature)
        response.metadata[SIGNATURE_DEF].Pack(signatures)
        return response
