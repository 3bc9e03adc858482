package controller

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func scalerPod(name string, leader bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "inferscale-system", Name: name, Labels: map[string]string{"app": "inferscale-scaler"}}}
	if leader {
		p.Labels[LeaderLabel] = "true"
	}
	return p
}

func TestLeaderLabeler(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).
		WithObjects(scalerPod("me", false), scalerPod("crashed-leader", true)).Build()
	l := &LeaderLabeler{Client: c, Namespace: "inferscale-system", PodName: "me", Log: logr.Discard()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Start(ctx) }()

	labelled := func(name string) bool {
		var p corev1.Pod
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "inferscale-system", Name: name}, &p); err != nil {
			t.Fatal(err)
		}
		return p.Labels[LeaderLabel] == "true"
	}
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return labelled("me") && !labelled("crashed-leader"), nil
	})
	if err != nil {
		t.Fatalf("leader label: me=%v crashed-leader=%v", labelled("me"), labelled("crashed-leader"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if labelled("me") {
		t.Error("the label outlived leadership")
	}
}
