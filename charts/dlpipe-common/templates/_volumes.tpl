{{/*
The shared volume (one ReadWriteMany claim, see the dlpipe-storage chart) and
the writable /tmp that a read-only root file system needs.
*/}}

{{/*
Pod volumes: the claim as "data" (read-only with "readOnly" true; in a pipeline without a claim
of its own, the pipeline's: dlpipe.pipeline.claimName) and an emptyDir "tmp" of .Values.tmpSizeLimit.
Call with (dict "claimName" "<claim>" "context" $ ["readOnly" true]).
*/}}
{{- define "dlpipe.volumes" -}}
- name: data
  persistentVolumeClaim:
    claimName: {{ required "sharedVolume.claimName is required: the claim made by the dlpipe-storage chart" (.claimName | default (include "dlpipe.pipeline.claimName" .context)) }}
    {{- if .readOnly }}
    readOnly: true
    {{- end }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .context.Values.tmpSizeLimit }}
{{- end -}}

{{/*
Container mounts: the volume at sharedVolume.mountPath (default dlpipe.layout.podRoot), /tmp.
A pod that reads one top-level directory only (TF Serving, the published models) mounts just it, at
<mountPath>/<directory>, so the paths it uses stay the same: "directory" names it.
Call with the root context, or (dict "context" $ ["readOnly" true] ["directory" "<name>"]).
*/}}
{{- define "dlpipe.volumeMounts" -}}
{{- $ctx := .context | default . -}}
{{- $shared := $ctx.Values.sharedVolume | default dict -}}
{{- $mountPath := $shared.mountPath | default (include "dlpipe.layout.podRoot" $ctx) -}}
{{- $subPath := $shared.subPath | default "" -}}
{{- with .directory -}}
{{- $mountPath = printf "%s/%s" ($mountPath | trimSuffix "/") . -}}
{{- $subPath = ternary (printf "%s/%s" ($subPath | trimSuffix "/") .) . (ne $subPath "") -}}
{{- end -}}
- name: data
  mountPath: {{ $mountPath }}
  {{- if .readOnly }}
  readOnly: true
  {{- end }}
  {{- with $subPath }}
  subPath: {{ . }}
  {{- end }}
- name: tmp
  mountPath: /tmp
{{- end -}}
