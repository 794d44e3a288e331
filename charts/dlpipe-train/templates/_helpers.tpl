{{/* The configuration file: config, plus where the workers find each other in a multi-worker run. */}}
{{- define "dlpipe-train.config" -}}
{{- include "dlpipe-train.checkDistribution" . -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config.train "dataset" (include "dlpipe-train.dataset" .) -}}
{{- if include "dlpipe-train.multiWorker" . -}}
{{- $_ := set $config.train "workers" (int .Values.distributed.workers) -}}
{{- $_ := set $config.train "port" (int .Values.distributed.port) -}}
{{- $_ := set $config.train "service" (include "dlpipe-train.jobName" .) -}}
{{- end -}}
{{- include "dlpipe.stageConfig" (dict "context" . "config" $config) -}}
{{- end -}}

{{/*
The workers and the strategy must agree: several workers with a one-pod strategy would each
train alone; multi-worker in one pod fails as `dlpipe train` says. Where the workers find each
other is the chart's to write (distributed.*), not config's.
*/}}
{{- define "dlpipe-train.checkDistribution" -}}
{{- $workers := int .Values.distributed.workers -}}
{{- $strategy := .Values.config.train.strategy | default "auto" -}}
{{- if and (gt $workers 1) (has $strategy (list "default" "mirrored")) -}}
{{- fail (printf "distributed.workers=%d with config.train.strategy=%s: that strategy trains within one pod, so each worker would train alone; use config.train.strategy multi-worker or auto, or distributed.workers=1" $workers $strategy) -}}
{{- end -}}
{{- if and (eq $workers 1) (eq $strategy "multi-worker") -}}
{{- fail "config.train.strategy=multi-worker with distributed.workers=1: --strategy multi-worker needs TF_CONFIG or train.workers > 1 in an Indexed Job; set distributed.workers above 1, or strategy auto" -}}
{{- end -}}
{{- range $key, $value := dict "workers" "distributed.workers" "port" "distributed.port" "service" "distributed.workers" -}}
{{- if hasKey $.Values.config.train $key -}}
{{- fail (printf "config.train.%s is the chart's to set: use %s instead" $key $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Everything that defines a run: a change makes a new Job (a new run) instead of patching the old one. */}}
{{- define "dlpipe-train.jobName" -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config.train "dataset" (include "dlpipe-train.dataset" .) -}}
{{- $checksum := printf "%s\n%s\n%v\n%v" (toYaml $config) (include "dlpipe.image" (dict "image" .Values.image "context" .)) .Values.gpus .Values.distributed -}}
{{- include "dlpipe.job.name" (dict "context" . "checksum" $checksum) -}}
{{- end -}}

{{/* The run id: config.run_id, else the Job's name. */}}
{{- define "dlpipe-train.runId" -}}
{{- .Values.config.run_id | default (include "dlpipe-train.jobName" .) -}}
{{- end -}}

{{/* Several workers in an Indexed Job (with a TFJob, the operator wires the workers up). */}}
{{- define "dlpipe-train.multiWorker" -}}
{{- if and (gt (int .Values.distributed.workers) 1) (ne .Values.distributed.backend "tfjob") }}true{{ end -}}
{{- end -}}

{{/* The label that names a worker's Job on its pods. */}}
{{- define "dlpipe-train.jobLabel" -}}
{{- ternary "training.kubeflow.org/job-name" "batch.kubernetes.io/job-name" (eq .Values.distributed.backend "tfjob") -}}
{{- end -}}

{{/* The dataset to train on: config.train.dataset, else the pipeline's (global.dlpipe.dataset). */}}
{{- define "dlpipe-train.dataset" -}}
{{- include "dlpipe.pipeline.required" (dict "context" . "value" .Values.config.train.dataset "key" "dataset" "field" "config.train.dataset" "what" "NAME or NAME@VERSION of an ingested dataset") -}}
{{- end -}}

{{/*
Continuous training (a CronJob running `dlpipe train --pending`) names each run after its dataset
version: a run id of its own, or several workers agreeing on one per Job, has no place there.
*/}}
{{- define "dlpipe-train.checkContinuous" -}}
{{- if .Values.continuous.enabled -}}
{{- if .Values.config.run_id -}}
{{- fail (printf "config.run_id=%s with continuous.enabled: continuous training names each run after its dataset version; drop config.run_id" .Values.config.run_id) -}}
{{- end -}}
{{- if or (gt (int .Values.distributed.workers) 1) (ne .Values.distributed.backend "job") -}}
{{- fail (printf "continuous.enabled with distributed.workers=%d (backend %s): continuous training runs one pod per run; set distributed.workers=1 and distributed.backend=job" (int .Values.distributed.workers) .Values.distributed.backend) -}}
{{- end -}}
{{- end -}}
{{- end -}}
