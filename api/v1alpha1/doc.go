// Package v1alpha1 holds the AutoscalingPolicy API of the inferscale.io group:
// its Go types, their defaults and their validation. It is pure: no client,
// no network, so the webhook, the scaler and the CLI share one definition of
// what a valid policy is.
//
// +kubebuilder:object:generate=true
// +groupName=inferscale.io
package v1alpha1
