{{/*
Security contexts meeting the Pod Security "restricted" profile: non-root,
RuntimeDefault seccomp, no privilege escalation, all capabilities dropped and
a read-only root file system (pods get an emptyDir at /tmp, see _volumes.tpl).
.Values.podSecurityContext / .Values.containerSecurityContext are merged over
these defaults.
*/}}

{{- define "dlpipe.podSecurityContext" -}}
{{- $defaults := dict
  "runAsNonRoot" true
  "runAsUser" 1000
  "runAsGroup" 1000
  "fsGroup" 1000
  "fsGroupChangePolicy" "OnRootMismatch"
  "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy (.Values.podSecurityContext | default dict))) -}}
{{- end -}}

{{- define "dlpipe.containerSecurityContext" -}}
{{- $defaults := dict
  "runAsNonRoot" true
  "allowPrivilegeEscalation" false
  "readOnlyRootFilesystem" true
  "privileged" false
  "capabilities" (dict "drop" (list "ALL"))
  "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy (.Values.containerSecurityContext | default dict))) -}}
{{- end -}}
