{{/* The configuration file: config, plus where the workers find each other in a multi-worker run. */}}
{{- define "dlpipe-train.config" -}}
{{- include "dlpipe-train.checkDistribution" . -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config.train "dataset" (include "dlpipe-train.dataset" .) -}}
{{- if gt (int .Values.gpus) 0 -}}
{{- /* A pod given GPUs that TensorFlow cannot see fails, rather than train on the CPU for days. */ -}}
{{- $_ := set $config.train "gpus" (int .Values.gpus) -}}
{{- end -}}
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
{{- fail "config.train.strategy=multi-worker with distributed.workers=1: --strategy multi-worker needs TF_CONFIG or train.workers > 1 in an Indexed Job or a JobSet; set distributed.workers above 1, or strategy auto" -}}
{{- end -}}
{{- if and .Values.distributed.runtimeRef.name (ne .Values.distributed.backend "trainjob") -}}
{{- fail (printf "distributed.runtimeRef.name=%s with distributed.backend=%s: a runtime is for a TrainJob; set distributed.backend trainjob, or leave runtimeRef.name empty" .Values.distributed.runtimeRef.name .Values.distributed.backend) -}}
{{- end -}}
{{- if and .Values.distributed.runtimeRef.name .Values.waitFor.enabled -}}
{{- fail (printf "waitFor.enabled with distributed.runtimeRef.name=%s: Trainer patches only the containers a platform's runtime has, so no wait for the dataset would run; set waitFor.enabled=false and install once the dataset is published" .Values.distributed.runtimeRef.name) -}}
{{- end -}}
{{- if and .Values.distributed.runtimeRef.name .Values.priorityClassName -}}
{{- fail (printf "priorityClassName=%s with distributed.runtimeRef.name=%s: the platform's runtime sets its pods' priority (Trainer cannot patch it); leave priorityClassName empty, or with Kueue set kueue.priorityClass" .Values.priorityClassName .Values.distributed.runtimeRef.name) -}}
{{- end -}}
{{- if and .Values.kueue.priorityClass (not .Values.kueue.queueName) -}}
{{- fail (printf "kueue.priorityClass=%s without kueue.queueName: Kueue orders only what it queues; set kueue.queueName to a LocalQueue, or leave priorityClass empty" .Values.kueue.priorityClass) -}}
{{- end -}}
{{- range $key, $value := dict "workers" "distributed.workers" "port" "distributed.port" "service" "distributed.workers" "gpus" "gpus" -}}
{{- if hasKey $.Values.config.train $key -}}
{{- fail (printf "config.train.%s is the chart's to set: use %s instead" $key $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Everything the Job runs (dlpipe.job.checksum): a change makes a new Job, and without config.run_id
a new run, instead of patching the old one.
A JobSet names its pods <jobset>-<replicated job>-<job index>-<pod index>-<5 random>, which
JobSet refuses beyond 63 characters: with "worker" (or Trainer's "node"), job 0 and up to 1024
workers, its name keeps 43 (the checksum's 9 and 34 of the release's name).
*/}}
{{- define "dlpipe-train.jobName" -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config.train "dataset" (include "dlpipe-train.dataset" .) -}}
{{- /* Every value of the pod too (gpus, distributed, kueue: Kueue refuses a changed queue on a workload it has admitted). */ -}}
{{- $run := printf "%s\n%s" (toYaml $config) (include "dlpipe.image" (dict "image" .Values.image "context" .)) -}}
{{- $name := include "dlpipe.job.name" (dict "context" . "checksum" (include "dlpipe.job.checksum" (dict "context" . "run" $run))) -}}
{{- if has .Values.distributed.backend (list "jobset" "trainjob") -}}
{{- $suffix := $name | trunc -9 -}}
{{- $name = printf "%s%s" ($name | trimSuffix $suffix | trunc 34 | trimSuffix "-") $suffix -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/* The run id: config.run_id, else the Job's name. */}}
{{- define "dlpipe-train.runId" -}}
{{- .Values.config.run_id | default (include "dlpipe-train.jobName" .) -}}
{{- end -}}

{{/*
Several workers whose TF_CONFIG dlpipe builds: an Indexed Job's, a JobSet's or a TrainJob's
(with a TFJob, the operator wires the workers up).
*/}}
{{- define "dlpipe-train.multiWorker" -}}
{{- if and (gt (int .Values.distributed.workers) 1) (ne .Values.distributed.backend "tfjob") }}true{{ end -}}
{{- end -}}

{{/* Several workers in an Indexed Job, found through the chart's own headless Service (JobSet brings its own). */}}
{{- define "dlpipe-train.indexedJob" -}}
{{- if and (gt (int .Values.distributed.workers) 1) (eq .Values.distributed.backend "job") }}true{{ end -}}
{{- end -}}

{{/* The label that names the run's workload on its pods: the Job's, the JobSet's (a TrainJob's JobSet has its name) or the TFJob's. */}}
{{- define "dlpipe-train.jobLabel" -}}
{{- get (dict "job" "batch.kubernetes.io/job-name" "jobset" "jobset.sigs.k8s.io/jobset-name" "trainjob" "jobset.sigs.k8s.io/jobset-name" "tfjob" "training.kubeflow.org/job-name") .Values.distributed.backend -}}
{{- end -}}

{{/*
The workload's metadata (a Job's, kept like one) with Kueue's labels when kueue.queueName is set.
Call with the root context.
*/}}
{{- define "dlpipe-train.workloadMetadata" -}}
{{- $metadata := include "dlpipe.job.metadata" (dict "context" . "name" (include "dlpipe-train.jobName" .) "component" "train") | fromYaml -}}
{{- $_ := mergeOverwrite $metadata.labels (include "dlpipe-train.kueueLabels" . | fromYaml) -}}
{{- toYaml $metadata -}}
{{- end -}}

{{/* Kueue's labels of a workload: its LocalQueue and priority; none without kueue.queueName. */}}
{{- define "dlpipe-train.kueueLabels" -}}
{{- with .Values.kueue.queueName }}
kueue.x-k8s.io/queue-name: {{ . }}
{{- with $.Values.kueue.priorityClass }}
kueue.x-k8s.io/priority-class: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
`suspend: true` for Kueue: it starts the workload, all its workers at once, when admitted. On an
upgrade of a workload already there, what Kueue set is kept: rendering true again would make
helm suspend a running run (and delete its pods); rendering false would start a queued one
past Kueue. Nothing without kueue.queueName. Call with the root context.
*/}}
{{- define "dlpipe-train.suspend" -}}
{{- if .Values.kueue.queueName -}}
{{- $kinds := dict "job" (list "batch/v1" "Job") "jobset" (list "jobset.x-k8s.io/v1alpha2" "JobSet") "trainjob" (list "trainer.kubeflow.org/v1alpha1" "TrainJob") "tfjob" (list "kubeflow.org/v1" "TFJob") -}}
{{- $kind := get $kinds .Values.distributed.backend -}}
{{- $live := lookup (index $kind 0) (index $kind 1) .Release.Namespace (include "dlpipe-train.jobName" .) -}}
{{- $spec := $live.spec | default dict -}}
{{- $suspended := ternary ($spec.runPolicy | default dict).suspend $spec.suspend (eq .Values.distributed.backend "tfjob") -}}
suspend: {{ ternary true $suspended (kindIs "invalid" $suspended) }}
{{- end -}}
{{- end -}}

{{/*
The spec of the Job whose pods are the workers, inside a JobSet or a TrainingRuntime: one
failed pod fails the Job (backoffLimit 0), so that JobSet restarts every worker together
(collective ops cannot take a lone newcomer); the podFailurePolicy of every dlpipe Job.
*/}}
{{- define "dlpipe-train.gangJobSpec" -}}
{{- $workers := int .Values.distributed.workers -}}
completionMode: Indexed
completions: {{ $workers }}
parallelism: {{ $workers }}
backoffLimit: 0
{{- with .Values.job.activeDeadlineSeconds }}
activeDeadlineSeconds: {{ . | int64 }}
{{- end }}
podFailurePolicy:
  {{- (include "dlpipe.job.policy" . | fromYaml).podFailurePolicy | toYaml | nindent 2 }}
{{- include "dlpipe-train.chiefSuccess" . }}
{{- end -}}

{{/*
The Job succeeds when worker 0 (the chief, which writes the export) does, even if another
worker then fails: successPolicy is on by default from Kubernetes 1.31.
*/}}
{{- define "dlpipe-train.chiefSuccess" -}}
{{- if and (gt (int .Values.distributed.workers) 1) (semverCompare ">=1.31-0" .Capabilities.KubeVersion.Version) }}
successPolicy:
  rules:
    - succeededIndexes: "0"
{{- end }}
{{- end -}}

{{/*
A JobSet's own policies, for the jobset backend and the runtime of the trainjob one: a failed
worker restarts the whole gang, from the last checkpoint, up to distributed.maxRestarts times,
except for a configuration error (exit code 2, failed by the Job's podFailurePolicy) or the
deadline, which no restart can change; the run is done when its one Job (worker 0) succeeds.
Call with (dict "context" $ "replicatedJob" "<name>").
*/}}
{{- define "dlpipe-train.gangPolicy" -}}
failurePolicy:
  maxRestarts: {{ .context.Values.distributed.maxRestarts | int64 }}
  restartStrategy: Recreate
  rules:
    - name: NotRetriable
      action: FailJobSet
      onJobFailureReasons: [PodFailurePolicy, DeadlineExceeded]
successPolicy:
  operator: All
  targetReplicatedJobs: [{{ .replicatedJob }}]
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
