package agent

import (
	"os"

	agentv1 "github.com/inferscale/inferscale/api/agent/v1"
)

// Config is the agent's configuration, defined with its flags, defaults and validation in
// api/agent/v1 so that the injecting webhook renders exactly what the agent parses.
type Config = agentv1.Config

// LoadConfig parses args and the process environment.
func LoadConfig(args []string) (Config, error) { return agentv1.Load(args, os.Getenv) }
