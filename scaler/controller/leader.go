package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// LeaderLabel marks the scaler pod that holds the leader lease. The report Service selects
// it, so agents' reports reach the one replica that keeps windows and decides; a follower
// that still gets one (endpoints lag a failover) answers 503 and the agent retries.
const LeaderLabel = "inferscale.io/scaler-leader"

// LeaderLabeler puts LeaderLabel on this replica's pod once it leads, takes it off every
// other scaler pod (a crashed leader cannot), and off its own pod when it stops.
type LeaderLabeler struct {
	// Client writes directly to the API server (pods of the scaler's namespace).
	Client    client.Client
	Namespace string
	PodName   string
	Log       logr.Logger
	// Retry is the interval between attempts while a patch fails. Default 2 s.
	Retry time.Duration
}

var (
	_ manager.Runnable               = (*LeaderLabeler)(nil)
	_ manager.LeaderElectionRunnable = (*LeaderLabeler)(nil)
)

// NeedLeaderElection is true: it starts when this replica is elected.
func (l *LeaderLabeler) NeedLeaderElection() bool { return true }

// Start labels this pod and unlabels the others, retrying until both succeed, then waits for
// the end to unlabel this pod.
func (l *LeaderLabeler) Start(ctx context.Context) error {
	retry := l.Retry
	if retry <= 0 {
		retry = 2 * time.Second
	}
	for {
		err := l.label(ctx, l.PodName, true)
		if err == nil {
			err = l.unlabelOthers(ctx)
		}
		if err == nil {
			l.Log.Info("Labelled this pod as the leader", "pod", l.PodName, "namespace", l.Namespace)
			break
		}
		l.Log.Error(err, "Labelling the leader pod failed; retrying", "pod", l.PodName)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
	<-ctx.Done()
	// The manager's context is done; give the patch a few seconds of its own.
	stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.label(stop, l.PodName, false); err != nil {
		l.Log.Error(err, "Removing the leader label at shutdown failed", "pod", l.PodName)
	}
	return nil
}

func (l *LeaderLabeler) unlabelOthers(ctx context.Context) error {
	var pods corev1.PodList
	if err := l.Client.List(ctx, &pods, client.InNamespace(l.Namespace), client.MatchingLabels{LeaderLabel: "true"}); err != nil {
		return fmt.Errorf("list leader-labelled pods: %w", err)
	}
	for _, p := range pods.Items {
		if p.Name == l.PodName {
			continue
		}
		if err := l.label(ctx, p.Name, false); err != nil {
			return err
		}
		l.Log.Info("Removed the leader label of a former leader", "pod", p.Name)
	}
	return nil
}

// label sets or removes LeaderLabel on pod name with a merge patch (null deletes).
func (l *LeaderLabeler) label(ctx context.Context, name string, on bool) error {
	var value any
	if on {
		value = "true"
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{LeaderLabel: value}}})
	pod := &corev1.Pod{}
	pod.Namespace, pod.Name = l.Namespace, name
	err := l.Client.Patch(ctx, pod, client.RawPatch(types.MergePatchType, patch))
	if err != nil && !(apierrors.IsNotFound(err) && !on) {
		return fmt.Errorf("patch label %s of pod %s/%s: %w", LeaderLabel, l.Namespace, name, err)
	}
	return nil
}
