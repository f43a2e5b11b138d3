{{/* Name of the chart, overridable. */}}
{{- define "armorgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource-name prefix: the release name when it already contains the chart name. */}}
{{- define "armorgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "armorgate.agentName" -}}{{ include "armorgate.fullname" . }}-agent{{- end -}}
{{- define "armorgate.webhookName" -}}{{ include "armorgate.fullname" . }}-webhook{{- end -}}

{{/* TLS Secret the webhook mounts. */}}
{{- define "armorgate.tlsSecretName" -}}
{{- if eq .Values.webhook.certs.mode "secret" -}}
{{- required "webhook.certs.secretName is required with webhook.certs.mode=secret" .Values.webhook.certs.secretName -}}
{{- else -}}
{{- include "armorgate.webhookName" . }}-tls
{{- end -}}
{{- end -}}

{{- define "armorgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "armorgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: armorgate
{{- end -}}

{{/* selectorLabels COMPONENT */}}
{{- define "armorgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "armorgate.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* image (dict "root" $ "repo" .Values.image.<agent|webhook>): each image
its own digest or tag; image.tag, then appVersion, as the default tag. */}}
{{- define "armorgate.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := .repo.repository -}}
{{- if $img.registry }}{{ $repo = printf "%s/%s" $img.registry $repo }}{{ end -}}
{{- if .repo.digest -}}
{{ $repo }}@{{ .repo.digest }}
{{- else -}}
{{ $repo }}:{{ .repo.tag | default $img.tag | default .root.Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "armorgate.profilesRef" -}}
{{ .Release.Namespace }}/{{ .Values.app.profilesConfigMap }}
{{- end -}}

{{- define "armorgate.agentServiceAccountUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "armorgate.agentName" . }}
{{- end -}}
