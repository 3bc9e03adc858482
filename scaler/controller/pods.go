package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/decision"
	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/workload"
)

// targetPods lists the pods of target k: those its verified owner chain reaches
// (attribution's Owns), as ingestion attributes reports, so a pod that only carries the
// target's labels or names it in a forged owner reference is not counted. The list is
// narrowed first by the /scale selector when the target has one, for a SeldonDeployment (whose
// /scale has none) by Seldon's seldon-deployment-id label; the selector returned is that one.
func (c *Controller) targetPods(ctx context.Context, k target.Key, selector string) ([]corev1.Pod, labels.Selector, error) {
	var sel labels.Selector
	switch {
	case selector != "":
		var err error
		if sel, err = labels.Parse(selector); err != nil {
			return nil, nil, fmt.Errorf("parse /scale status.selector %q: %w", selector, err)
		}
	case k.Group == workload.SeldonGroup && k.Kind == "SeldonDeployment":
		sel = labels.SelectorFromSet(labels.Set{workload.SeldonDeploymentIDLabel: workload.SeldonDeploymentID(k.Name)})
	}
	var list corev1.PodList
	opts := []client.ListOption{client.InNamespace(k.Namespace)}
	if sel != nil {
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	if err := c.client.List(ctx, &list, opts...); err != nil {
		return nil, sel, fmt.Errorf("list pods of %s: %w", k, err)
	}
	pods := list.Items[:0]
	for i := range list.Items {
		owned, err := c.resolver.Owns(ctx, &list.Items[i], k)
		if err != nil {
			return nil, sel, fmt.Errorf("owners of pod %s/%s: %w", k.Namespace, list.Items[i].Name, err)
		}
		if owned {
			pods = append(pods, list.Items[i])
		}
	}
	return pods, sel, nil
}

// TrimPod is the scaler's cache transform of pods: it keeps what the scaler reads (the
// metadata attribution and the decision use, the containers' names and resources, the init
// containers' restart policies, pod-level resources and overhead, phase, conditions and start
// time) and drops the rest (images, commands, environment, volumes, probes, annotations,
// container statuses, managed fields), since the cache holds every pod of the cluster. What
// decisionPod, budget.PodCost and attribution read of a trimmed pod is what they read of the
// whole one (TestTrimPodKeepsWhatTheScalerReads).
func TrimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{TypeMeta: p.TypeMeta, ObjectMeta: p.ObjectMeta}
	out.ManagedFields, out.Annotations = nil, nil
	out.Spec = corev1.PodSpec{
		Containers:     trimContainers(p.Spec.Containers),
		InitContainers: trimContainers(p.Spec.InitContainers),
		Resources:      p.Spec.Resources,
		Overhead:       p.Spec.Overhead,
	}
	out.Status = corev1.PodStatus{Phase: p.Status.Phase, Conditions: p.Status.Conditions, StartTime: p.Status.StartTime}
	return out, nil
}

func trimContainers(cs []corev1.Container) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		out[i] = corev1.Container{Name: cs[i].Name, Resources: cs[i].Resources, RestartPolicy: cs[i].RestartPolicy}
	}
	return out
}

// decisionPod is what the decision core needs of a pod.
func decisionPod(p *corev1.Pod) decision.Pod {
	d := decision.Pod{
		Name:        p.Name,
		Created:     p.CreationTimestamp.Time,
		Phase:       p.Status.Phase,
		Terminating: p.DeletionTimestamp != nil,
		Requests:    requests(p),
		GPUs:        gpuRequest(p),
	}
	if p.Status.StartTime != nil {
		d.StartTime = p.Status.StartTime.Time
	}
	for _, c := range p.Status.Conditions {
		switch c.Type {
		case corev1.PodReady:
			d.Ready = c.Status
			d.ReadyTransition = c.LastTransitionTime.Time
		case corev1.PodScheduled:
			d.Unschedulable = c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}
	}
	return d
}

// requests computes the pod's cpu and memory requests in milli-units as HPA's
// calculateRequests does: the pod-level request when set, else the sum over containers and
// restartable (sidecar) init containers; absent when a container lacks one.
func requests(p *corev1.Pod) map[corev1.ResourceName]int64 {
	out := map[corev1.ResourceName]int64{}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if p.Spec.Resources != nil {
			if q, ok := p.Spec.Resources.Requests[name]; ok {
				out[name] = q.MilliValue()
				continue
			}
		}
		var sum int64
		complete := true
		add := func(c *corev1.Container) {
			q, ok := c.Resources.Requests[name]
			if !ok {
				complete = false
				return
			}
			sum += q.MilliValue()
		}
		for i := range p.Spec.Containers {
			add(&p.Spec.Containers[i])
		}
		for i := range p.Spec.InitContainers {
			if c := &p.Spec.InitContainers[i]; c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				add(c)
			}
		}
		if complete {
			out[name] = sum
		}
	}
	return out
}

// gpuRequest counts the device plugin's GPUs and MIG slices the pod's containers ask for:
// their limits, which for extended resources are also their requests.
func gpuRequest(p *corev1.Pod) int64 {
	var n int64
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		for name, q := range c.Resources.Limits {
			if v1alpha1.IsDevicePluginGPU(name) {
				n += q.Value()
			}
		}
	}
	return n
}
