{{/*
Security contexts meeting the Pod Security "restricted" profile: non-root,
RuntimeDefault seccomp, no privilege escalation, all capabilities dropped and
a read-only root file system (pods get an emptyDir at /tmp, see _volumes.tpl).
.Values.podSecurityContext / .Values.containerSecurityContext are merged over
these defaults. A value that weakens them (root, privileged, added capabilities,
...) is refused unless .Values.unsafeSecurityContext says so, and then the
release notes warn (dlpipe.notes.warnings).
*/}}

{{- define "dlpipe.podSecurityContext" -}}
{{- include "dlpipe.securityContext.check" . -}}
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
{{- include "dlpipe.securityContext.check" . -}}
{{- $defaults := dict
  "runAsNonRoot" true
  "allowPrivilegeEscalation" false
  "readOnlyRootFilesystem" true
  "privileged" false
  "capabilities" (dict "drop" (list "ALL"))
  "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy (.Values.containerSecurityContext | default dict))) -}}
{{- end -}}

{{/*
What podSecurityContext / containerSecurityContext change that the restricted profile forbids,
one "field=value" each (empty when nothing is weakened). Call with the root context.
*/}}
{{- define "dlpipe.securityContext.weakened" -}}
{{- $found := list -}}
{{- range $field, $ctx := dict "podSecurityContext" (.Values.podSecurityContext | default dict) "containerSecurityContext" (.Values.containerSecurityContext | default dict) -}}
{{- if and (hasKey $ctx "runAsNonRoot") (not $ctx.runAsNonRoot) }}{{ $found = append $found (printf "%s.runAsNonRoot=false" $field) }}{{ end -}}
{{- if and (hasKey $ctx "runAsUser") (eq (toString $ctx.runAsUser) "0") }}{{ $found = append $found (printf "%s.runAsUser=0" $field) }}{{ end -}}
{{- if eq (dig "seccompProfile" "type" "" $ctx) "Unconfined" }}{{ $found = append $found (printf "%s.seccompProfile.type=Unconfined" $field) }}{{ end -}}
{{- if dig "windowsOptions" "hostProcess" false $ctx }}{{ $found = append $found (printf "%s.windowsOptions.hostProcess=true" $field) }}{{ end -}}
{{- if $ctx.privileged }}{{ $found = append $found (printf "%s.privileged=true" $field) }}{{ end -}}
{{- if $ctx.allowPrivilegeEscalation }}{{ $found = append $found (printf "%s.allowPrivilegeEscalation=true" $field) }}{{ end -}}
{{- if and (hasKey $ctx "readOnlyRootFilesystem") (not $ctx.readOnlyRootFilesystem) }}{{ $found = append $found (printf "%s.readOnlyRootFilesystem=false" $field) }}{{ end -}}
{{- if eq (toString $ctx.procMount) "Unmasked" }}{{ $found = append $found (printf "%s.procMount=Unmasked" $field) }}{{ end -}}
{{- with $ctx.capabilities -}}
{{- with without (.add | default list) "NET_BIND_SERVICE" }}{{ $found = append $found (printf "%s.capabilities.add=[%s]" $field (join "," .)) }}{{ end -}}
{{- if and (hasKey . "drop") (not (has "ALL" (.drop | default list))) }}{{ $found = append $found (printf "%s.capabilities.drop without ALL" $field) }}{{ end -}}
{{- end -}}
{{- end -}}
{{- join ", " $found -}}
{{- end -}}

{{/* Fails naming what weakens the restricted profile, unless unsafeSecurityContext allows it. */}}
{{- define "dlpipe.securityContext.check" -}}
{{- $weakened := include "dlpipe.securityContext.weakened" . -}}
{{- if and $weakened (not .Values.unsafeSecurityContext) -}}
{{- fail (printf "%s: weakens the restricted security context (non-root, no privilege escalation, no added capabilities, RuntimeDefault seccomp, read-only root); remove it, or set unsafeSecurityContext=true to allow it (the release notes then warn)" $weakened) -}}
{{- end -}}
{{- end -}}
