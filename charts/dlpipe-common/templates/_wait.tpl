{{/*
Stages chain through the shared volume, not through Helm's order: a stage's pod starts with an
init container that runs a `dlpipe … verify` command with --wait, which polls the volume for the
stage's input, logs a line every progress interval while it waits, then checks what it found (a
dataset's checksums, an export's warm-up request). A pod installed before its input exists
waits; one whose input never comes fails after waitFor.seconds, naming what it waited for.
*/}}

{{/*
initContainers: with that container when .Values.waitFor.enabled, nothing otherwise.
Call with (dict "context" $ "name" "wait-<input>" "args" (list "dataset" "verify" "<name>")).
*/}}
{{- define "dlpipe.wait.initContainers" -}}
{{- $ := .context -}}
{{- if $.Values.waitFor.enabled }}
initContainers:
  - name: {{ .name }}
    {{- include "dlpipe.imageFields" (dict "image" $.Values.image "context" $) | nindent 4 }}
    args:
      {{- range .args }}
      - {{ . | quote }}
      {{- end }}
      - --wait={{ $.Values.waitFor.seconds | int64 }}
      - --config={{ include "dlpipe.layout.configFile" $ }}
      - --root={{ $.Values.sharedVolume.mountPath }}
    env:
      - name: HOME
        value: /tmp
      {{- /* It reads the stage's configuration, whose secrets ({fromEnv: NAME}) come from extraEnv. */}}
      {{- with include "dlpipe.extraEnv" $ }}{{ . | trim | nindent 6 }}{{ end }}
    securityContext:
      {{- include "dlpipe.containerSecurityContext" $ | nindent 6 }}
    {{- with include "dlpipe.resources" (dict "resources" $.Values.waitFor.resources "field" "waitFor.resources") }}{{ . | trim | nindent 4 }}{{ end }}
    volumeMounts:
      {{- include "dlpipe.volumeMounts" (dict "context" $ "readOnly" true) | nindent 6 }}
      {{- include "dlpipe.job.configMount" $ | nindent 6 }}
{{- end }}
{{- end -}}
