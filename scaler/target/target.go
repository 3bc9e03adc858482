// Package target names the workload a policy scales, the key under which the scaler keeps
// report windows and resolves pods.
package target

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// Key identifies a scale target: a namespaced object of some group and kind. The version is
// left out on purpose: a target referenced as apps/v1 and reached through an owner reference
// of another version is the same object.
type Key struct {
	Namespace string
	Group     string
	Kind      string
	Name      string
}

// String renders the key as "<namespace>/<kind>.<group>/<name>" for logs and metrics.
func (k Key) String() string {
	gk := k.Kind
	if k.Group != "" {
		gk += "." + k.Group
	}
	return k.Namespace + "/" + gk + "/" + k.Name
}

// GroupKind is the key's group and kind.
func (k Key) GroupKind() schema.GroupKind { return schema.GroupKind{Group: k.Group, Kind: k.Kind} }

// ForPolicy is the key of the target a policy names. An unparsable apiVersion yields the
// empty group, which matches no owner and so no pod.
func ForPolicy(p *v1alpha1.AutoscalingPolicy) Key {
	ref := p.Spec.Target()
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	return Key{Namespace: p.Namespace, Group: gv.Group, Kind: ref.Kind, Name: ref.Name}
}
