package gpu

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// DefaultPodResourcesSocket is where the kubelet serves the PodResources API.
const DefaultPodResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

// gpuResourcePrefix matches the NVIDIA device plugin's resources: nvidia.com/gpu and the
// MIG ones (nvidia.com/mig-1g.10gb, ...).
const gpuResourcePrefix = "nvidia.com/"

// PodGPUs asks the kubelet which GPU devices are allocated to the pod. It uses Get where the
// kubelet has it and List otherwise. The ids are what the device plugin reported: GPU or MIG
// UUIDs, or indexes.
func PodGPUs(ctx context.Context, socket, namespace, name string) ([]string, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("pod resources socket %s: %w", socket, err)
	}
	defer conn.Close()
	c := podresourcesv1.NewPodResourcesListerClient(conn)

	res, err := c.Get(ctx, &podresourcesv1.GetPodResourcesRequest{PodName: name, PodNamespace: namespace})
	if err == nil {
		return gpuIDs(res.GetPodResources()), nil
	}
	// Get is behind a feature gate on older kubelets; List works everywhere.
	if status.Code(err) != codes.Unimplemented {
		return nil, fmt.Errorf("pod resources Get %s/%s: %w", namespace, name, err)
	}
	list, err := c.List(ctx, &podresourcesv1.ListPodResourcesRequest{})
	if err != nil {
		return nil, fmt.Errorf("pod resources List: %w", err)
	}
	for _, p := range list.GetPodResources() {
		if p.GetNamespace() == namespace && p.GetName() == name {
			return gpuIDs(p), nil
		}
	}
	return nil, fmt.Errorf("pod resources List: pod %s/%s not found", namespace, name)
}

func gpuIDs(p *podresourcesv1.PodResources) []string {
	var ids []string
	for _, c := range p.GetContainers() {
		for _, d := range c.GetDevices() {
			if strings.HasPrefix(d.GetResourceName(), gpuResourcePrefix) {
				ids = append(ids, d.GetDeviceIds()...)
			}
		}
	}
	return ids
}
