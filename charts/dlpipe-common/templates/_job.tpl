{{/*
Jobs that survive `helm upgrade`.

A Job's pod template is immutable, so a changed Job would make `helm upgrade`
fail, and deleting it would kill a run in progress. Instead each Job's name
carries a checksum of what it runs: an upgrade that changes nothing keeps the
same Job; one that changes the configuration, the image or anything else of its
pod (resources, scheduling, env, ...) creates a new Job, and
`helm.sh/resource-policy: keep` stops helm from deleting the old one while it
may still be running. Finished Jobs go away after job.ttlSecondsAfterFinished.
*/}}

{{/*
The checksum of what a Job runs: the stage's own text (its configuration file, its image) and
every value, but those that reach no Job's pod (tests, networkPolicy, tensorboard, continuous,
the service account's annotations), so that changing those keeps the Job.
Call with (dict "context" $ "run" "<the stage's own text>").
*/}}
{{- define "dlpipe.job.checksum" -}}
{{- $values := omit .context.Values "tests" "networkPolicy" "tensorboard" "continuous" -}}
{{- $_ := set $values "serviceAccount" (omit ($values.serviceAccount | default dict) "annotations") -}}
{{- printf "%s\n%s" .run (toYaml $values) -}}
{{- end -}}

{{/*
<fullname>-<8 hex of the checksum>, 58 characters at most: the pods of an Indexed Job are named
<job>-<index> (up to 4 digits), which must stay a 63-character DNS label.
Call with (dict "context" $ "checksum" "<text>").
*/}}
{{- define "dlpipe.job.name" -}}
{{- $full := include "dlpipe.fullname" .context | trunc 49 | trimSuffix "-" -}}
{{- printf "%s-%s" $full (sha256sum .checksum | trunc 8) -}}
{{- end -}}

{{/* Job annotations: kept on upgrade and uninstall (see above). */}}
{{- define "dlpipe.job.annotations" -}}
helm.sh/resource-policy: keep
{{- end -}}

{{/*
The metadata of a Job and of what lives and goes with it (its ConfigMap, its workers' Service):
the Job's name, kept like the Job. Call with (dict "context" $ "name" "<job name>" ["component" "<component>"]).
*/}}
{{- define "dlpipe.job.metadata" -}}
{{ include "dlpipe.metadata" . }}
annotations:
  {{- include "dlpipe.job.annotations" .context | nindent 2 }}
{{- end -}}

{{/*
Retry policy from .Values.job. A pod evicted by node drain, preemption or
spot reclaim (DisruptionTarget) is retried without spending backoffLimit;
exit codes 2 (a configuration error) and 3 (evaluated, not blessed) fail the
Job at once, since a retry cannot change them.
*/}}
{{- define "dlpipe.job.policy" -}}
backoffLimit: {{ .Values.job.backoffLimit | int64 }}
ttlSecondsAfterFinished: {{ .Values.job.ttlSecondsAfterFinished | int64 }}
{{- with .Values.job.activeDeadlineSeconds }}
activeDeadlineSeconds: {{ . | int64 }}
{{- end }}
podFailurePolicy:
  rules:
    - action: Ignore
      onPodConditions:
        - type: DisruptionTarget
          status: "True"
    - action: FailJob
      onExitCodes:
        operator: In
        values: [2, 3]
{{- end -}}

{{/*
The ConfigMap holding a stage's configuration file, named like its Job so a
running Job never sees its configuration change.
Call with (dict "context" $ "name" "<job name>" "config" "<yaml text>").
*/}}
{{- define "dlpipe.job.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  {{- include "dlpipe.job.metadata" (dict "context" .context "name" .name) | nindent 2 }}
data:
  {{ include "dlpipe.layout.configFileName" .context }}: |
    {{- .config | nindent 4 }}
{{- end -}}

{{/* The config volume and its mount, at dlpipe.layout.configDir. Call with the ConfigMap's name. */}}
{{- define "dlpipe.job.configVolume" -}}
- name: config
  configMap:
    name: {{ . }}
{{- end -}}

{{- define "dlpipe.job.configMount" -}}
- name: config
  mountPath: {{ include "dlpipe.layout.configDir" . }}
  readOnly: true
{{- end -}}

{{/*
A stage on a schedule (continuous mode): a CronJob whose Jobs keep the dlpipe Job policy and run
one at a time (Forbid: a tick would race the one before over the same work: the same source
changed, the same dataset version, the same run to publish).
Call with (dict "context" $ "podSpec" "<the pod spec, rendered>" ["jobLabels" (dict …)]):
jobLabels go on each Job (Kueue's queue label, say: Kueue then admits each tick's Job).
*/}}
{{- define "dlpipe.cronJob" -}}
{{- $ := .context -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  {{- include "dlpipe.metadata" (dict "context" $ "component" "continuous" "name" (include "dlpipe.componentName" (dict "context" $ "component" "continuous" "maxLength" 52))) | nindent 2 }}
spec:
  schedule: {{ $.Values.continuous.schedule | quote }}
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 3
  jobTemplate:
    {{- with .jobLabels }}
    metadata:
      labels:
        {{- toYaml . | nindent 8 }}
    {{- end }}
    spec:
      {{- include "dlpipe.job.policy" $ | nindent 6 }}
      template:
        metadata:
          {{- include "dlpipe.pod.metadata" (dict "context" $ "component" "continuous") | nindent 10 }}
        spec:
          {{- .podSpec | nindent 10 }}
{{- end -}}
