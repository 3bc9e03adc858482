//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

var modelInferCRD = crdWithScale("workload.matrixinfer.ai", "v1alpha1", "ModelInfer", "modelinfers")

// A kind with /scale that the shipped RBAC does not cover (MatrixInfer's ModelInfer): the
// policy's AbleToScale condition names the permission the scaler lacks and how to grant it;
// once the shipped sample ClusterRole is applied (it aggregates into the scaler's role), the
// scaler reads the target's /scale.
func TestScalerNamesMissingScalePermissionUntilGranted(t *testing.T) {
	requireInferscale(t)
	if out, err := applyManifest(t, modelInferCRD); err != nil {
		t.Fatalf("install the ModelInfer CRD: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_, _ = testCluster.Kubectl(context.Background(), "delete", "crd", "modelinfers.workload.matrixinfer.ai", "--wait=false")
		_, _ = testCluster.Kubectl(context.Background(), "delete", "-f", repoPath(t, "manifests/samples/rbac/modelinfer-scale.yaml"), "--ignore-not-found")
	})
	kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/modelinfers.workload.matrixinfer.ai")
	ns := newNamespace(t)
	if out, err := applyManifest(t, fmt.Sprintf("apiVersion: workload.matrixinfer.ai/v1alpha1\nkind: ModelInfer\nmetadata: {name: m, namespace: %s}\nspec: {replicas: 1}\n", ns)); err != nil {
		t.Fatalf("create ModelInfer: %v\n%s", err, out)
	}
	applyPolicy(t, scalerPolicy(ns, "m", "workload.matrixinfer.ai/v1alpha1", "ModelInfer", "m", 3))

	c := newClient(t)
	ableToScale := func(ctx context.Context) *metaCondition {
		var p v1alpha1.AutoscalingPolicy
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "m"}, &p); err != nil {
			return nil
		}
		if cond := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.AbleToScale); cond != nil {
			return &metaCondition{status: string(cond.Status), reason: cond.Reason, message: cond.Message}
		}
		return nil
	}
	var last *metaCondition
	err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 45*time.Second, true, func(ctx context.Context) (bool, error) {
		last = ableToScale(ctx)
		return last != nil && strings.Contains(last.message, "inferscale.io/aggregate-to-scaler") && strings.Contains(last.message, "modelinfers"), nil
	})
	if err != nil {
		t.Fatalf("AbleToScale never named the missing permission: %+v", last)
	}
	kubectl(t, "apply", "-f", repoPath(t, "manifests/samples/rbac/modelinfer-scale.yaml"))
	err = wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 45*time.Second, true, func(ctx context.Context) (bool, error) {
		last = ableToScale(ctx)
		return last != nil && last.reason != v1alpha1.ReasonFailedGetScale, nil
	})
	if err != nil {
		t.Fatalf("after granting /scale of ModelInfer, AbleToScale is still %+v", last)
	}
}

type metaCondition struct{ status, reason, message string }
