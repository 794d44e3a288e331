"""What TensorFlow Serving accepts: its config protos and its flags.

The model config is checked with TF Serving's own ``ModelServerConfig`` from
tensorflow-serving-api. That package does not ship the monitoring and batching
messages, so those two are declared here, field for field as in
tensorflow_serving/config/monitoring_config.proto and
servables/tensorflow/session_bundle_config.proto (2.21).
"""

from __future__ import annotations

import contextlib

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,  # noqa: F401 - registers google/protobuf/wrappers.proto in the pool
)
from tensorflow_serving.config import model_server_config_pb2

_F = descriptor_pb2.FieldDescriptorProto


def _declare() -> tuple[type, type]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="dlpipe_tests/tf_serving_configs.proto",
        package="dlpipe_tests",
        dependency=["google/protobuf/wrappers.proto"],
    )
    prometheus = proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=_F.TYPE_BOOL, label=_F.LABEL_OPTIONAL)
    prometheus.field.add(name="path", number=2, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    monitoring = proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(name="prometheus_config", number=1, type=_F.TYPE_MESSAGE, label=_F.LABEL_OPTIONAL,
                         type_name=".dlpipe_tests.PrometheusConfig")  # fmt: skip
    batching = proto.message_type.add(name="BatchingParameters")
    for number, (name, wrapper) in enumerate(
        [("max_batch_size", "Int64Value"), ("batch_timeout_micros", "Int64Value"), ("thread_pool_name", "StringValue"),
         ("num_batch_threads", "Int64Value"), ("max_enqueued_batches", "Int64Value")], start=1):  # fmt: skip
        batching.field.add(name=name, number=number, type=_F.TYPE_MESSAGE, label=_F.LABEL_OPTIONAL,
                           type_name=f".google.protobuf.{wrapper}")  # fmt: skip
    batching.field.add(name="allowed_batch_sizes", number=6, type=_F.TYPE_INT64, label=_F.LABEL_REPEATED)
    batching.field.add(name="pad_variable_length_inputs", number=7, type=_F.TYPE_MESSAGE, label=_F.LABEL_OPTIONAL,
                       type_name=".google.protobuf.BoolValue")  # fmt: skip
    pool = descriptor_pool.Default()
    with contextlib.suppress(TypeError):  # already declared by an earlier import in this process
        pool.Add(proto)
    messages = message_factory.GetMessages([proto], pool=pool)
    return messages["dlpipe_tests.MonitoringConfig"], messages["dlpipe_tests.BatchingParameters"]


MonitoringConfig, BatchingParameters = _declare()

# tensorflow_model_server's flags (tensorflow_serving/model_servers/main.cc, 2.21).
FLAGS = {
    "port", "grpc_socket_path", "grpc_channel_arguments", "grpc_max_threads", "rest_api_port",
    "rest_api_num_threads", "rest_api_timeout_in_ms", "rest_api_enable_cors_support", "enable_batching",
    "enable_per_model_batching_parameters", "allow_version_labels_for_unavailable_models",
    "force_allow_any_version_labels_for_unavailable_models", "batching_parameters_file", "model_config_file",
    "model_config_file_poll_wait_seconds", "model_name", "model_base_path", "num_load_threads",
    "num_unload_threads", "max_num_load_retries", "load_retry_interval_micros", "file_system_poll_wait_seconds",
    "flush_filesystem_caches", "tensorflow_session_parallelism", "tensorflow_session_config_file",
    "tensorflow_intra_op_parallelism", "tensorflow_inter_op_parallelism", "use_alts_credentials",
    "ssl_config_file", "platform_config_file", "per_process_gpu_memory_fraction", "saved_model_tags",
    "monitoring_config_file", "enable_model_warmup", "num_request_iterations_for_warmup", "version",
    "enforce_session_run_timeout", "remove_unused_fields_from_bundle_metagraph", "prefer_tflite_model",
    "num_tflite_pools", "num_tflite_interpreters_per_pool", "thread_pool_factory_config_file",
    "enable_signature_method_name_check", "xla_cpu_compilation_enabled", "enable_profiler",
}  # fmt: skip


def parse_model_config(text: str) -> model_server_config_pb2.ModelServerConfig:
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def parse_monitoring_config(text: str) -> object:
    return text_format.Parse(text, MonitoringConfig())


def parse_batching_config(text: str) -> object:
    return text_format.Parse(text, BatchingParameters())
