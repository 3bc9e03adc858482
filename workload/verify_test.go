package workload

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func with(lbls map[string]string, kv ...string) map[string]string {
	out := maps.Clone(lbls)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestChainRefusesForgedLinks: every owner reference a pod's (or a workload's) creator can
// write but the controller at its end would not claim ends the chain below it, with an error
// naming the link and the cause.
func TestChainRefusesForgedLinks(t *testing.T) {
	forged := cluster()
	// Labelled like the Deployment's own and claiming it, but not made by its controller.
	forged["ReplicaSet/rogue"] = selecting(object("ReplicaSet", "rogue", ref("apps/v1", "Deployment", "llama")), with(llamaLabels, "app", "rogue"))
	forged["ReplicaSet/stray"] = selecting(object("ReplicaSet", "stray"), llamaLabels)
	forged["ReplicaSet/stale"] = selecting(object("ReplicaSet", "stale", ref("apps/v1", "Deployment", "llama")), llamaLabels)
	forged["ReplicaSet/stale"].OwnerReferences[0].UID = "an-older-llama"
	forged["ReplicaSet/nohash"] = selecting(object("ReplicaSet", "nohash", ref("apps/v1", "Deployment", "llama")), map[string]string{"app": "llama"})
	// A ReplicaSet whose selector leaves out the hash: the pod's hash is still checked.
	forged["ReplicaSet/loose"] = selecting(object("ReplicaSet", "loose"), llamaLabels, "app")
	forged["ControllerRevision/other-0"] = object("ControllerRevision", "other-0", ref("apps/v1", "StatefulSet", "other"))
	// Seldon's labels on a Deployment the SeldonDeployment does not control.
	forged["Deployment/iris-fake"] = selecting(object("Deployment", "iris-fake"), seldonLabels, "app")
	forged["ReplicaSet/iris-fake-s1"] = selecting(object("ReplicaSet", "iris-fake-s1", ref("apps/v1", "Deployment", "iris-fake")), seldonLabels)
	forged["Deployment/iris-uid"] = selecting(object("Deployment", "iris-uid", ref("machinelearning.seldon.io/v1", "SeldonDeployment", "iris")), seldonLabels, "app")
	forged["Deployment/iris-uid"].OwnerReferences[0].UID = "SeldonDeployment-someone-else"
	forged["ReplicaSet/iris-uid-s1"] = selecting(object("ReplicaSet", "iris-uid-s1", ref("apps/v1", "Deployment", "iris-uid")), seldonLabels)

	direct := Pod{Name: "forged", Labels: llamaLabels, Owners: []metav1.OwnerReference{ref("apps/v1", "Deployment", "llama")}}
	for _, tc := range []struct {
		name string
		pod  Pod
		// want is the chain that holds; cause is in the error, "" for none.
		want, cause string
	}{
		{"controller reference straight to the deployment", direct, "", "a Deployment does not control Pods"},
		{"reference to the replicaset with another uid", func() Pod {
			p := podOf("ReplicaSet", "llama-abc", llamaLabels)
			p.Owners[0].UID = "guessed"
			return p
		}(), "", `uid "guessed"`},
		{"reference to a replicaset that does not exist", podOf("ReplicaSet", "gone", llamaLabels), "", "it does not exist"},
		{"selector mismatch", podOf("ReplicaSet", "llama-abc", with(llamaLabels, "app", "other")), "", `selector "app=llama,pod-template-hash=abc" does not match the pod's labels`},
		{"pod-template-hash mismatch", podOf("ReplicaSet", "loose", with(llamaLabels, PodTemplateHashLabel, "xyz")), "", `pod-template-hash "xyz" is not the ReplicaSet's "abc"`},
		{"pod without pod-template-hash", podOf("ReplicaSet", "loose", map[string]string{"app": "llama"}), "", `pod-template-hash "" is not the ReplicaSet's "abc"`},
		{"replicaset not owned by the deployment", podOf("ReplicaSet", "stray", llamaLabels), "ReplicaSet/stray", ""},
		{"replicaset claims the deployment, its selector does not match", podOf("ReplicaSet", "rogue", with(llamaLabels, "app", "rogue")), "ReplicaSet/rogue", `Deployment's selector "app=llama" does not match the replicaset's labels`},
		{"replicaset claims the deployment with another uid", podOf("ReplicaSet", "stale", llamaLabels), "ReplicaSet/stale", `uid "an-older-llama"`},
		{"replicaset without pod-template-hash", podOf("ReplicaSet", "nohash", map[string]string{"app": "llama"}), "ReplicaSet/nohash", "no pod-template-hash label"},
		{"statefulset revision names no controllerrevision", podOf("StatefulSet", "web", with(webLabels, ControllerRevisionHashLabel, "web-9")), "", `"web-9" names no ControllerRevision`},
		{"statefulset revision of another set", podOf("StatefulSet", "web", with(webLabels, ControllerRevisionHashLabel, "other-0")), "", "ControllerRevision other-0, which the pod's controller-revision-hash names, is not the StatefulSet's"},
		{"statefulset pod without revision", podOf("StatefulSet", "web", map[string]string{"app": "web"}), "", "no controller-revision-hash label"},
		{"statefulset pod not named after the set", Pod{Name: "evil", Labels: webLabels, Owners: []metav1.OwnerReference{ref("apps/v1", "StatefulSet", "web")}}, "", `name "evil" is not the StatefulSet's name and an ordinal`},
		{"statefulset pod with a padded ordinal", Pod{Name: "web-01", Labels: webLabels, Owners: []metav1.OwnerReference{ref("apps/v1", "StatefulSet", "web")}}, "", "an ordinal"},
		{"statefulset selector mismatch", podOf("StatefulSet", "web", with(webLabels, "app", "db")), "", `StatefulSet's selector "app=web" does not match`},
		{"seldon-labelled deployment not owned by the seldondeployment", podOf("ReplicaSet", "iris-fake-s1", seldonLabels), "ReplicaSet/iris-fake-s1 Deployment/iris-fake", ""},
		{"deployment claims the seldondeployment with another uid", podOf("ReplicaSet", "iris-uid-s1", seldonLabels), "ReplicaSet/iris-uid-s1 Deployment/iris-uid", `uid "SeldonDeployment-someone-else"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Chain(context.Background(), tc.pod, &objects{m: forged})
			if names(got) != tc.want {
				t.Errorf("chain %q, want %q", names(got), tc.want)
			}
			switch {
			case tc.cause == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.cause != "" && (!errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), tc.cause)):
				t.Errorf("error %v, want ErrUnverified saying %q", err, tc.cause)
			}
		})
	}
}
