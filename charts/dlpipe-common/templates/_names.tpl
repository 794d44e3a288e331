{{/*
Names. Every resource name is release-scoped, so several releases of one chart
share a namespace without clashing. Kubernetes limits names to 63 characters.
*/}}

{{/* Chart name, or .Values.nameOverride. */}}
{{- define "dlpipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped name: fullnameOverride, else <release>-<chart> (just <release> when it already holds the chart name). */}}
{{- define "dlpipe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A component's name: (dict "context" $ "component" "prepare") -> <fullname>-prepare. */}}
{{- define "dlpipe.componentName" -}}
{{- $full := include "dlpipe.fullname" .context | trunc (int (sub 62 (len .component))) | trimSuffix "-" -}}
{{- printf "%s-%s" $full .component -}}
{{- end -}}

{{/* <chart>-<version> for the helm.sh/chart label. */}}
{{- define "dlpipe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}
