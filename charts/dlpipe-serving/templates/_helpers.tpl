{{/* The model to serve: model.name, else the pipeline's (global.dlpipe.model). */}}
{{- define "dlpipe-serving.modelName" -}}
{{- include "dlpipe.pipeline.required" (dict "context" . "value" .Values.model.name "key" "model" "field" "model.name" "what" (printf "the model to serve (%s/<name>/ on the volume)" (include "dlpipe.layout.models" .))) -}}
{{- end -}}

{{/* TF Serving's image: the pinned official one, its GPU variant when gpus > 0. */}}
{{- define "dlpipe-serving.image" -}}
{{- $image := deepCopy .Values.image -}}
{{- if and (gt (int .Values.gpus) 0) $image.tag (eq $image.repository "tensorflow/serving") (not (hasSuffix "-gpu" $image.tag)) -}}
{{- fail (printf "gpus=%d with image.tag=%s: that is TF Serving's CPU build, which would serve on the CPU; set image.tag=%s-gpu (or leave it empty)" (int .Values.gpus) $image.tag $image.tag) -}}
{{- end -}}
{{- if not $image.tag -}}
{{- $_ := set $image "tag" (ternary "2.21.0-gpu" "2.21.0" (gt (int .Values.gpus) 0)) -}}
{{- end -}}
{{- include "dlpipe.imageFields" (dict "image" $image "context" . "upstream" true) -}}
{{- end -}}

{{/*
Every model served, the main one first: a JSON list of {name, policy, labels, version}, made
by "dlpipe-serving.model" from model and each of models.
*/}}
{{- define "dlpipe-serving.models" -}}
{{- $main := merge (dict "name" (include "dlpipe-serving.modelName" .)) .Values.model -}}
{{- $all := list (include "dlpipe-serving.model" (dict "model" $main "field" "model") | fromJson) -}}
{{- range $i, $model := .Values.models }}
{{- $all = append $all (include "dlpipe-serving.model" (dict "model" $model "field" (printf "models[%d]" $i)) | fromJson) -}}
{{- end -}}
{{- toJson $all -}}
{{- end -}}

{{/*
One model as TF Serving is to serve it. Call with (dict "model" <value> "field" "model"|"models[i]").
- policy: {latest: N} (the N newest), {specific: [V, ...]} or {all: true}: versionPolicy, else
  version (latest: the newest one; V: that one).
- labels: {label: V}: the model's labels, plus stable -> V for a pinned version.
- version: what a request naming no version gets, so what the helm test expects: V when pinned,
  the highest of a specific policy, else "latest". The readiness sidecar waits for every version
  of a specific policy (labels and requests may name any of them), else for this one.
Versions stay strings of digits: a number would come back from the JSON round trip as a float (1e+06).
Fails, naming the values, on what TF Serving would start with but serve wrongly: a label on a
version the policy never loads, two values giving one label two versions.
*/}}
{{- define "dlpipe-serving.model" -}}
{{- $at := .field -}}
{{- $version := toString (.model.version | default "latest") -}}
{{- $labels := dict -}}
{{- range $label, $v := .model.labels }}{{ $_ := set $labels $label (printf "%d" (int64 $v)) }}{{ end -}}
{{- $policy := dict "latest" "1" -}}
{{- $served := "latest" -}}
{{- $from := "" -}}
{{- $chosen := .model.versionPolicy | default dict -}}
{{- if $chosen -}}
{{- if ne $version "latest" -}}
{{- fail (printf "%s.version=%d and %s.versionPolicy both choose the versions to serve: set one of them" $at (int64 .model.version) $at) -}}
{{- end -}}
{{- if hasKey $chosen "latest" -}}
{{- $policy = dict "latest" (printf "%d" (int64 $chosen.latest)) -}}
{{- else if hasKey $chosen "specific" -}}
{{- $versions := list -}}
{{- range $chosen.specific }}{{ $versions = append $versions (printf "%d" (int64 .)) }}{{ end -}}
{{- $policy = dict "specific" $versions -}}
{{- $from = printf "%s.versionPolicy.specific" $at -}}
{{- $served = first $versions -}}
{{- range $versions }}{{ if gt (int64 .) (int64 $served) }}{{ $served = . }}{{ end }}{{ end -}}
{{- else -}}
{{- $policy = dict "all" true -}}
{{- end -}}
{{- else if ne $version "latest" -}}
{{- $served = printf "%d" (int64 .model.version) -}}
{{- $policy = dict "specific" (list $served) -}}
{{- $from = printf "%s.version" $at -}}
{{- with get $labels "stable" -}}
{{- if ne . $served -}}
{{- fail (printf "%s.labels.stable=%s and %s.version=%s both set the label stable (a pinned version is labelled stable): drop one" $at . $at $served) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $labels "stable" $served -}}
{{- end -}}
{{- if $from -}}
{{- range $label, $v := $labels -}}
{{- if not (has $v $policy.specific) -}}
{{- fail (printf "%s.labels.%s=%s names a version that is never loaded: %s serves only %s" $at $label $v $from (join ", " $policy.specific)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson (dict "name" .model.name "policy" $policy "labels" $labels "version" $served) -}}
{{- end -}}

{{/*
A TF Serving model config (text protobuf; see tensorflow_serving/config/model_server_config.proto).
Call with (dict "context" $ "models" <list from "dlpipe-serving.models" or "dlpipe-serving.canaryModels">).
*/}}
{{- define "dlpipe-serving.modelConfig" -}}
{{- $root := .context.Values.sharedVolume.mountPath -}}
model_config_list {
{{- range .models }}
  config {
    name: {{ .name | quote }}
    base_path: "{{ include "dlpipe.layout.modelsDir" $root }}/{{ .name }}"
    model_platform: "tensorflow"
    {{- if hasKey .policy "specific" }}
    model_version_policy { specific { {{- range .policy.specific }} versions: {{ . }}{{ end }} } }
    {{- else if hasKey .policy "all" }}
    model_version_policy { all {} }
    {{- else }}
    model_version_policy { latest { num_versions: {{ .policy.latest }} } }
    {{- end }}
    {{- range $label, $version := .labels }}
    version_labels { key: {{ $label | quote }} value: {{ $version }} }
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

{{/*
The canary Deployment's models: the main model at canary.version alone, labelled canary, the
others as in the stable config. The label canary is then the canary Deployment's.
*/}}
{{- define "dlpipe-serving.canaryModels" -}}
{{- $models := include "dlpipe-serving.models" . | fromJsonArray -}}
{{- if hasKey (.Values.model.labels | default dict) "canary" -}}
{{- fail (printf "model.labels.canary and canary.version=%d both set the label canary: with a canary Deployment the label canary is its version" (int64 .Values.canary.version)) -}}
{{- end -}}
{{- $version := printf "%d" (int64 .Values.canary.version) -}}
{{- $canary := dict "name" (index $models 0).name "policy" (dict "specific" (list $version)) "labels" (dict "canary" $version) "version" $version -}}
{{- toJson (prepend (rest $models) $canary) -}}
{{- end -}}

{{/*
A serving pod: TF Serving and the readiness sidecar. Call with
(dict "context" $ "config" "<file in the ConfigMap>" "models" <list> "role" "stable"|"canary").
*/}}
{{- define "dlpipe-serving.podSpec" -}}
{{- $ := .context -}}
{{ include "dlpipe.pod.header" (dict "context" $ "scheduled" true) }}
terminationGracePeriodSeconds: {{ add (int64 $.Values.drainSeconds) 30 }}
containers:
  - name: tf-serving
    {{- include "dlpipe-serving.image" $ | nindent 4 }}
    command: [tensorflow_model_server]
    {{- with int64 $.Values.drainSeconds }}
    # A deleted pod leaves the Service's endpoints a moment after it is told to stop: keep
    # answering meanwhile (TF Serving stops at once on SIGTERM), so a roll-out fails no request.
    lifecycle:
      preStop:
        exec:
          command: [sleep, {{ . | quote }}]
    {{- end }}
    args:
      - --port=8500
      - --rest_api_port=8501
      - --model_config_file=/etc/tf-serving/{{ .config }}
      - --file_system_poll_wait_seconds={{ $.Values.model.pollSeconds | int64 }}
      - --rest_api_timeout_in_ms={{ $.Values.restApiTimeoutMs | int64 }}
      - --enable_model_warmup=true
      # TF Serving assigns the config's labels before it has loaded any version: without this
      # flag a config with labels fails the start. It lets a label name a version not loaded
      # yet unless that label already names another one, which never happens here: labels
      # change only with the config, and a changed config starts new pods.
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
      - --model={{ .name }}={{ .policy.specific | default (list .version) | join "," }}
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

{{/*
The Services a route sends requests to, weighted: with a canary, the stable and canary
Deployments' own Services, canary.weight percent to the canary; else the chart's Service.
Call with (dict "context" $ "port" <Service port>).
*/}}
{{- define "dlpipe-serving.backendRefs" -}}
{{- $ := .context -}}
{{- if $.Values.canary.version -}}
- name: {{ include "dlpipe.componentName" (dict "context" $ "component" "stable") }}
  port: {{ .port }}
  weight: {{ sub 100 (int $.Values.canary.weight) }}
- name: {{ include "dlpipe.componentName" (dict "context" $ "component" "canary") }}
  port: {{ .port }}
  weight: {{ int $.Values.canary.weight }}
{{- else -}}
- name: {{ include "dlpipe.fullname" $ }}
  port: {{ .port }}
{{- end }}
{{- end -}}

{{/*
HTTPRoute matches for TF Serving's REST paths of a model's versions or labels: status and
metadata (/v1/models/<model>/<target>[/metadata]) and the :predict, :classify and :regress
calls, which share no path prefix with them. Call with (dict "model" "<name>" "targets"
(list "labels/canary" "versions/3" ...)).
*/}}
{{- define "dlpipe-serving.restMatches" -}}
{{- range $i, $target := .targets }}
{{- $path := printf "/v1/models/%s/%s" $.model $target }}
{{- if $i }}{{ "\n" }}{{ end -}}
- path:
    type: PathPrefix
    value: {{ $path }}
{{- range list "predict" "classify" "regress" }}
- path:
    type: Exact
    value: {{ $path }}:{{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The Gateway API routes' parentRefs and hostnames. */}}
{{- define "dlpipe-serving.routeParents" -}}
{{- if not .Values.gateway.parentRefs -}}
{{- fail "gateway.parentRefs is required with gateway.enabled: the Gateway(s) the routes attach to, e.g. [{name: public, namespace: gateways}]" -}}
{{- end -}}
parentRefs:
  {{- toYaml .Values.gateway.parentRefs | nindent 2 }}
{{- with .Values.gateway.hostnames }}
hostnames:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
