{{/*
The shared volume (one ReadWriteMany claim, see the dlpipe-storage chart) and
the writable /tmp that a read-only root file system needs.
*/}}

{{/*
Pod volumes: the claim as "data" (read-only with "readOnly" true) and an emptyDir "tmp" of
"tmpSizeLimit", default .Values.tmpSizeLimit.
Call with (dict "claimName" "<claim>" "context" $ ["readOnly" true] ["tmpSizeLimit" "256Mi"]).
*/}}
{{- define "dlpipe.volumes" -}}
- name: data
  persistentVolumeClaim:
    claimName: {{ required "sharedVolume.claimName is required: the claim made by the dlpipe-storage chart" .claimName }}
    {{- if .readOnly }}
    readOnly: true
    {{- end }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .tmpSizeLimit | default .context.Values.tmpSizeLimit | default "1Gi" }}
{{- end -}}

{{/*
Container mounts: the volume at sharedVolume.mountPath (default dlpipe.layout.podRoot), /tmp.
Call with the root context, or (dict "context" $ "readOnly" true) for a read-only volume.
*/}}
{{- define "dlpipe.volumeMounts" -}}
{{- $ctx := .context | default . -}}
{{- $shared := $ctx.Values.sharedVolume | default dict -}}
- name: data
  mountPath: {{ $shared.mountPath | default (include "dlpipe.layout.podRoot" $ctx) }}
  {{- if .readOnly }}
  readOnly: true
  {{- end }}
  {{- with $shared.subPath }}
  subPath: {{ . }}
  {{- end }}
- name: tmp
  mountPath: /tmp
{{- end -}}
