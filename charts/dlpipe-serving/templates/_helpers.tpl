{{/* TF Serving's image: the pinned official one, its GPU variant when gpus > 0. */}}
{{- define "dlpipe-serving.image" -}}
{{- $image := deepCopy .Values.image -}}
{{- if not $image.tag -}}
{{- $_ := set $image "tag" (ternary "2.21.0-gpu" "2.21.0" (gt (int .Values.gpus) 0)) -}}
{{- end -}}
{{- include "dlpipe.imageFields" (dict "image" $image "context" .) -}}
{{- end -}}

{{/* Every model served, the main one first: a list of {name, version}. */}}
{{- define "dlpipe-serving.models" -}}
{{- $main := dict "name" (required (printf "model.name is required: the model to serve (%s/<name>/ on the volume)" (include "dlpipe.layout.models" .)) .Values.model.name) "version" (include "dlpipe.text" .Values.model.version) -}}
{{- $all := list $main -}}
{{- range .Values.models }}{{ $all = append $all (dict "name" .name "version" (include "dlpipe.text" .version)) }}{{ end -}}
{{- toJson $all -}}
{{- end -}}

{{/*
A TF Serving model config (text protobuf; see tensorflow_serving/config/model_server_config.proto).
Call with (dict "context" $ "models" <list of {name, version}> "label" "stable"|"canary").
A pinned version gets a version label; `latest` follows each newly published version.
*/}}
{{- define "dlpipe-serving.modelConfig" -}}
{{- $root := .context.Values.sharedVolume.mountPath -}}
model_config_list {
{{- range .models }}
  config {
    name: {{ .name | quote }}
    base_path: "{{ include "dlpipe.layout.modelsDir" $root }}/{{ .name }}"
    model_platform: "tensorflow"
    {{- if eq .version "latest" }}
    model_version_policy { latest { num_versions: 1 } }
    {{- else }}
    model_version_policy { specific { versions: {{ .version }} } }
    version_labels { key: {{ $.label | quote }} value: {{ .version }} }
    {{- end }}
  }
{{- end }}
}
{{- end -}}

{{- define "dlpipe-serving.monitoringConfig" -}}
prometheus_config {
  enable: true
  path: "/monitoring/prometheus/metrics"
}
{{- end -}}

{{- define "dlpipe-serving.batchingConfig" -}}
max_batch_size { value: {{ .Values.batching.maxBatchSize | int64 }} }
batch_timeout_micros { value: {{ .Values.batching.batchTimeoutMicros | int64 }} }
num_batch_threads { value: {{ .Values.batching.numBatchThreads | int64 }} }
max_enqueued_batches { value: {{ .Values.batching.maxEnqueuedBatches | int64 }} }
{{- end -}}

{{/* The canary's models: the main model at canary.version, the others as in the stable config. */}}
{{- define "dlpipe-serving.canaryModels" -}}
{{- $models := include "dlpipe-serving.models" . | fromJsonArray -}}
{{- $first := index $models 0 -}}
{{- $canary := list (dict "name" $first.name "version" (include "dlpipe.text" .Values.canary.version)) -}}
{{- toJson (concat $canary (rest $models)) -}}
{{- end -}}

{{/*
A serving pod: TF Serving and the readiness sidecar. Call with
(dict "context" $ "config" "<file in the ConfigMap>" "models" <list> "role" "stable"|"canary").
*/}}
{{- define "dlpipe-serving.podSpec" -}}
{{- $ := .context -}}
{{ include "dlpipe.pod.header" (dict "context" $ "scheduled" true) }}
containers:
  - name: tf-serving
    {{- include "dlpipe-serving.image" $ | nindent 4 }}
    command: [tensorflow_model_server]
    args:
      - --port=8500
      - --rest_api_port=8501
      - --model_config_file=/etc/tf-serving/{{ .config }}
      - --file_system_poll_wait_seconds={{ $.Values.model.pollSeconds | int64 }}
      - --rest_api_timeout_in_ms={{ $.Values.restApiTimeoutMs | int64 }}
      - --enable_model_warmup=true
      # Labels name pinned versions before they finish loading.
      - --allow_version_labels_for_unavailable_models=true
      {{- if $.Values.monitoring.enabled }}
      - --monitoring_config_file=/etc/tf-serving/monitoring.config
      {{- end }}
      {{- if $.Values.batching.enabled }}
      - --enable_batching=true
      - --batching_parameters_file=/etc/tf-serving/batching.config
      {{- end }}
    ports:
      - name: grpc
        containerPort: 8500
      - name: rest
        containerPort: 8501
    # TF Serving opens its ports once the models have loaded: until then only the startup
    # probe runs, so a large model is not restarted while it loads.
    startupProbe:
      tcpSocket:
        port: grpc
      periodSeconds: 10
      failureThreshold: {{ div (add (int64 $.Values.startupSeconds) 9) 10 }}
    livenessProbe:
      tcpSocket:
        port: grpc
      periodSeconds: 10
    readinessProbe:
      tcpSocket:
        port: rest
      periodSeconds: 5
    securityContext:
      {{- include "dlpipe.containerSecurityContext" $ | nindent 6 }}
    {{- with include "dlpipe.resources" (dict "resources" $.Values.resources "gpus" $.Values.gpus) }}{{ . | trim | nindent 4 }}{{ end }}
    volumeMounts:
      {{- include "dlpipe.volumeMounts" (dict "context" $ "readOnly" true "directory" (include "dlpipe.layout.models" $)) | nindent 6 }}
      - name: config
        mountPath: /etc/tf-serving
        readOnly: true
  # TF Serving's own status call answers 200 while a model still loads: the pod
  # is Ready only once this sidecar sees the wanted version(s) AVAILABLE.
  - name: ready
    {{- include "dlpipe.imageFields" (dict "image" $.Values.sidecar.image "context" $) | nindent 4 }}
    args:
      - serving-ready
      - --tf-serving=http://localhost:8501
      - --port={{ $.Values.sidecar.port | int64 }}
      {{- range .models }}
      - --model={{ .name }}={{ .version }}
      {{- end }}
    ports:
      - name: ready
        containerPort: {{ $.Values.sidecar.port | int64 }}
    readinessProbe:
      httpGet:
        path: /ready
        port: ready
      periodSeconds: 5
      failureThreshold: 2
    livenessProbe:
      tcpSocket:
        port: ready
      periodSeconds: 10
    securityContext:
      {{- include "dlpipe.containerSecurityContext" $ | nindent 6 }}
    {{- with include "dlpipe.resources" (dict "resources" $.Values.sidecar.resources "field" "sidecar.resources") }}{{ . | trim | nindent 4 }}{{ end }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
volumes:
  {{- include "dlpipe.volumes" (dict "claimName" $.Values.sharedVolume.claimName "context" $ "readOnly" true) | nindent 2 }}
  - name: config
    configMap:
      name: {{ include "dlpipe.fullname" $ }}
{{- end -}}
