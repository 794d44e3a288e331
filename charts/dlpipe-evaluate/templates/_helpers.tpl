{{/* The model to publish: config.evaluate.model_name, else the pipeline's (global.dlpipe.model). */}}
{{- define "dlpipe-evaluate.modelName" -}}
{{- include "dlpipe.pipeline.required" (dict "context" . "value" .Values.config.evaluate.model_name "key" "model" "field" "config.evaluate.model_name" "what" "the name to publish under, as TF Serving serves it") -}}
{{- end -}}

{{/* The configuration file, exactly as dlpipe reads it. */}}
{{- define "dlpipe-evaluate.config" -}}
{{- $model := include "dlpipe-evaluate.modelName" . -}}
{{- $evaluate := .Values.config.evaluate -}}
{{- if not (or $evaluate.thresholds $evaluate.change_thresholds $evaluate.bless_without_thresholds) -}}
{{- fail "config.evaluate.thresholds and config.evaluate.change_thresholds are both empty: no check could bless a model, and none would be published; set a threshold (e.g. accuracy>=0.8), or config.evaluate.bless_without_thresholds=true" -}}
{{- end -}}
{{- if not (or .Values.config.run_id .Values.continuous.enabled) -}}
{{- fail "config.run_id is required (the training run to evaluate), unless continuous.enabled evaluates every finished run" -}}
{{- end -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config.evaluate "model_name" $model -}}
{{- include "dlpipe.stageConfig" (dict "context" . "config" $config) -}}
{{- end -}}

{{/* Everything the Job runs: a change makes a new Job instead of patching the old one. */}}
{{- define "dlpipe-evaluate.jobName" -}}
{{- $run := printf "%s\n%s" (include "dlpipe-evaluate.config" .) (include "dlpipe.image" (dict "image" .Values.image "context" .)) -}}
{{- include "dlpipe.job.name" (dict "context" . "checksum" (include "dlpipe.job.checksum" (dict "context" . "run" $run))) -}}
{{- end -}}

{{/*
The pod of an evaluation, for the Job and the CronJob. Call with (dict "context" $ "args" (list ...)
["wait" true]); with "wait", it waits for config.run_id's export first (waitFor).
*/}}
{{- define "dlpipe-evaluate.podSpec" -}}
{{- $ := .context -}}
{{ include "dlpipe.pod.header" (dict "context" $ "restartPolicy" "Never" "scheduled" true) }}
{{- if .wait }}
{{- include "dlpipe.wait.initContainers" (dict "context" $ "name" "wait-export" "args" (list "export" "verify" $.Values.config.run_id)) }}
{{- end }}
containers:
  - name: evaluate
    {{- include "dlpipe.imageFields" (dict "image" $.Values.image "context" $) | nindent 4 }}
    args:
      {{- toYaml .args | nindent 6 }}
    env:
      - name: HOME
        value: /tmp
      {{- with include "dlpipe.extraEnv" $ }}{{ . | trim | nindent 6 }}{{ end }}
    securityContext:
      {{- include "dlpipe.containerSecurityContext" $ | nindent 6 }}
    {{- with include "dlpipe.resources" (dict "resources" $.Values.resources) }}{{ . | trim | nindent 4 }}{{ end }}
    volumeMounts:
      {{- include "dlpipe.volumeMounts" $ | nindent 6 }}
      {{- include "dlpipe.job.configMount" $ | nindent 6 }}
volumes:
  {{- include "dlpipe.volumes" (dict "claimName" $.Values.sharedVolume.claimName "context" $) | nindent 2 }}
  {{- include "dlpipe.job.configVolume" (include "dlpipe-evaluate.jobName" $) | nindent 2 }}
{{- end -}}

{{/*
The evaluation of config.run_id: its Job, its ConfigMap and its helm test. Named templates, so that the dlpipe
pipeline chart renders them too, for the run its training Job makes (a run id helm cannot hand
from one subchart to another). Call with the root context.
*/}}
{{- define "dlpipe-evaluate.job" -}}
apiVersion: batch/v1
kind: Job
metadata:
  {{- include "dlpipe.job.metadata" (dict "context" . "name" (include "dlpipe-evaluate.jobName" .) "component" "evaluate") | nindent 2 }}
spec:
  {{- include "dlpipe.job.policy" . | nindent 2 }}
  template:
    metadata:
      {{- include "dlpipe.pod.metadata" (dict "context" . "component" "evaluate") | nindent 6 }}
    spec:
      {{- $args := list "evaluate" (printf "--config=%s" (include "dlpipe.layout.configFile" .)) (printf "--root=%s" .Values.sharedVolume.mountPath) }}
      {{- include "dlpipe-evaluate.podSpec" (dict "context" . "args" $args "wait" true) | nindent 6 }}
{{- end -}}

{{- define "dlpipe-evaluate.configMap" -}}
{{- include "dlpipe.job.configMap" (dict "context" . "name" (include "dlpipe-evaluate.jobName" .) "config" (include "dlpipe-evaluate.config" .)) -}}
{{- end -}}

{{- define "dlpipe-evaluate.test" -}}
{{ include "dlpipe.test.header" . }}
spec:
  {{- $args := list "blessing" "show" .Values.config.run_id (printf "--wait=%d" (int .Values.tests.waitSeconds)) (printf "--root=%s" .Values.sharedVolume.mountPath) }}
  {{- if .Values.tests.requireBlessed }}{{ $args = append $args "--require-blessed" }}{{ end }}
  {{- include "dlpipe-evaluate.podSpec" (dict "context" . "args" $args) | nindent 2 }}
{{- end -}}
