{{/* The install namespace: namespaceOverride, else the release's (helm -n). */}}
{{- define "inferscale.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{/* An image reference from {repository, tag}; the tag defaults to the chart's appVersion. */}}
{{- define "inferscale.image" -}}
{{- $image := index . 0 -}}
{{- $root := index . 1 -}}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{/* True when certificates come from cert-manager; fails on an unknown mode. */}}
{{- define "inferscale.certManager" -}}
{{- $mode := .Values.certificates.mode -}}
{{- if eq $mode "cert-manager" -}}true
{{- else if ne $mode "self-managed" -}}
{{- fail (printf "certificates.mode %q: want self-managed or cert-manager" $mode) -}}
{{- end -}}
{{- end -}}

{{/* The DNS names of a Service in the install namespace, as certs.ServiceDNSNames has them. */}}
{{- define "inferscale.serviceDNSNames" -}}
{{- $svc := index . 0 -}}
{{- $ns := index . 1 -}}
- {{ $svc }}
- {{ $svc }}.{{ $ns }}
- {{ $svc }}.{{ $ns }}.svc
- {{ $svc }}.{{ $ns }}.svc.cluster.local
{{- end -}}
