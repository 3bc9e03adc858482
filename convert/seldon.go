package convert

import (
	"fmt"
	"strings"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// convertSeldonDeployment turns the hpaSpec of a SeldonDeployment into a policy
// on the SeldonDeployment itself, which inferscale scales through /scale (its
// spec.replicas). Only the hpaSpecs are read: the rest of the object is the
// workload, not its autoscaling.
func convertSeldonDeployment(d *document, p *v1alpha1.AutoscalingPolicy) {
	top := d.top()
	meta := top.get("metadata")
	for _, k := range meta.get("annotations").keys() {
		if strings.Contains(k, "seldon.io/") {
			meta.get("annotations").get(k).use() // the workload's settings, not copied to the policy
		}
	}
	p.Annotations = nil
	p.Labels = nil
	spec := top.get("spec")

	var hpas []node
	var replicaFields []node
	for _, pred := range spec.get("predictors").items() {
		if r := pred.get("replicas"); r.exists() {
			replicaFields = append(replicaFields, r)
		}
		for _, c := range pred.get("componentSpecs").items() {
			if h := c.get("hpaSpec"); h.exists() {
				hpas = append(hpas, h)
			}
			if k := c.get("kedaSpec"); k.exists() {
				k.fail("kedaSpec: Seldon creates a ScaledObject from it; convert that ScaledObject (kubectl get scaledobject -o yaml) instead")
			}
			if r := c.get("replicas"); r.exists() {
				replicaFields = append(replicaFields, r)
			}
		}
	}
	// The rest of the SeldonDeployment is the workload: mark it read, then let
	// the hpaSpecs be checked field by field.
	for _, k := range top.keys() {
		if k != "spec" && k != "metadata" {
			top.get(k).use()
		}
	}
	keep := map[string]bool{}
	for _, h := range hpas {
		keep[h.path] = true
	}
	markExcept(spec, keep)

	switch len(hpas) {
	case 0:
		return // nothing to convert: Object reports it as skipped
	case 1:
	default:
		paths := make([]string, len(hpas))
		for i, h := range hpas {
			paths[i] = h.path
		}
		spec.fail(fmt.Sprintf("%d hpaSpecs (%s) scale their components separately; an AutoscalingPolicy scales the whole SeldonDeployment through /scale: split the components into SeldonDeployments of their own", len(hpas), strings.Join(paths, ", ")))
		return
	}
	h := hpas[0]
	apiVersion := top.get("apiVersion").v.(string)
	p.Spec.TargetRef = v1alpha1.CrossVersionObjectReference{APIVersion: apiVersion, Kind: "SeldonDeployment", Name: p.Name}
	replicaBounds(h.get("minReplicas"), h.get("maxReplicas"), &p.Spec)
	switch {
	case h.get("metricsv2").exists():
		p.Spec.Metrics = metricList(h.get("metricsv2"), metricV2)
		h.get("metrics").drop("Seldon reads metricsv2 when both are set")
	default:
		p.Spec.Metrics = metricList(h.get("metrics"), metricV2beta1)
	}
	h.note(Action, "remove this hpaSpec when applying the policy: Seldon would otherwise keep an HPA that scales the same pods")
	for _, r := range replicaFields {
		r.note(Action, "remove it: the policy writes the SeldonDeployment's spec.replicas, which a more specific replicas overrides")
	}
}

// markExcept marks every field under n as read but the subtrees at keep (and
// the maps and lists on the way to them).
func markExcept(n node, keep map[string]bool) {
	if keep[n.path] {
		return
	}
	under := false
	for k := range keep {
		if strings.HasPrefix(k, n.path+".") || strings.HasPrefix(k, n.path+"[") {
			under = true
			break
		}
	}
	if !under {
		n.use()
		return
	}
	switch n.v.(type) {
	case map[string]any:
		for _, k := range n.keys() {
			markExcept(n.get(k), keep)
		}
	case []any:
		for _, it := range n.items() {
			markExcept(it, keep)
		}
	}
}
