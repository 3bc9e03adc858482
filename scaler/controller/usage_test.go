package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"
)

func podMetrics(name string, containers ...corev1.ResourceList) *metricsv1beta1.PodMetrics {
	pm := &metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "llama"}},
		Timestamp:  metav1.NewTime(time.Unix(1_800_000_000, 0)),
		Window:     metav1.Duration{Duration: 15 * time.Second},
	}
	for _, c := range containers {
		pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{Usage: c})
	}
	return pm
}

func TestUsage(t *testing.T) {
	cpu := func(v string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(v)}
	}
	// The fake's object tracker does not map PodMetrics to the "pods" resource it is listed
	// as, so the list is served by a reactor.
	fake := metricsfake.NewSimpleClientset()
	var selector string
	fake.PrependReactor("list", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		selector = a.(clienttesting.ListAction).GetListRestrictions().Labels.String()
		return true, &metricsv1beta1.PodMetricsList{Items: []metricsv1beta1.PodMetrics{
			*podMetrics("a", cpu("200m"), cpu("50m")),
			*podMetrics("b", cpu("100m"), corev1.ResourceList{}), // a container without cpu: no value
			*podMetrics("stranger", cpu("1")),                    // not a pod of the target
		}}, nil
	})
	c := New(Options{Usage: fake.MetricsV1beta1()})
	now := time.Now()
	pods := []corev1.Pod{*readyPod("a", now), *readyPod("b", now)}
	got := c.usage(context.Background(), logr.Discard(), ns, labels.SelectorFromSet(labels.Set{"app": "llama"}), pods, []corev1.ResourceName{corev1.ResourceCPU})
	if selector != "app=llama" {
		t.Errorf("listed with selector %q, want the target's", selector)
	}
	cpuUsage := got[corev1.ResourceCPU]
	if len(cpuUsage) != 1 || cpuUsage["a"].Value != 250 || cpuUsage["a"].Window != 15*time.Second {
		t.Errorf("cpu usage = %+v, want only a at 250m over 15s", cpuUsage)
	}

	fake.PrependReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("the server could not find the requested resource")
	})
	if got := c.usage(context.Background(), logr.Discard(), ns, nil, pods, []corev1.ResourceName{corev1.ResourceCPU}); got != nil {
		t.Errorf("usage when metrics.k8s.io fails = %v, want nil (the metric is invalid)", got)
	}
}

func names(pods []corev1.Pod) []string {
	out := make([]string, len(pods))
	for i := range pods {
		out[i] = pods[i].Name
	}
	return out
}
