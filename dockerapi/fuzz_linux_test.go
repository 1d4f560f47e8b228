package dockerapi

import (
	"encoding/json"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// The decoders of what a Docker API client sends, fuzzed: whatever the
// bytes, they end in a value or an error, never a panic.

func FuzzParseFilters(f *testing.F) {
	f.Add(`{"label":{"a=b":true},"status":{"running":true}}`)
	f.Add(`{"label":["com.docker.compose.project=x","k!=v"]}`)
	f.Add(`{"name":{"^web$":true},"dangling":["true"]}`)
	f.Add(`{"x":1}`)
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := parseFilters(s)
		if err != nil {
			return
		}
		fl.check("label", "name", "status")
		fl.labels("label", map[string]string{"a": "b"})
		for _, v := range fl["name"] {
			matchName(v, "web")
		}
		for _, v := range fl["reference"] {
			matchReference(v, []string{"busybox:latest"})
		}
	})
}

func FuzzTranslateCreate(f *testing.F) {
	f.Add([]byte(`{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"default","AutoRemove":true}}`))
	f.Add([]byte(`{"Image":"busybox","Env":["A=1","B"],"ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"HostConfig":{"Binds":["/a:/b:ro,z","v:/c"],"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},"Mounts":[{"Type":"tmpfs","Target":"/t"}],"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2}}}`))
	f.Add([]byte(`{"Image":"x","HostConfig":{"NetworkMode":"appnet","BlkioWeight":3,"Devices":[{"PathOnHost":"/dev/x"}]},"NetworkingConfig":{"EndpointsConfig":{"appnet":{"Aliases":["a"],"IPAMConfig":{"IPv4Address":"10.0.0.2"}}}}}`))
	f.Add([]byte(`{"Image":"x","Healthcheck":{"Test":["NONE"]},"StopTimeout":-1,"HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}},"Ulimits":[null,{"Name":"nofile","Soft":1}]}}`))
	resolve := func(ref string) (string, error) { return ref, nil }
	f.Fuzz(func(t *testing.T, body []byte) {
		var req container.CreateRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		c, err := translateCreate("name", req, resolve)
		if err == nil && (c.Service == nil || c.Service.Image == "") {
			t.Errorf("a create without an image was accepted: %s", body)
		}
	})
}

func FuzzParseBind(f *testing.F) {
	for _, s := range []string{"/host:/ctr", "vol:/data:ro,nocopy", "/a:/b:rshared", "x:", ":y", "a:b:c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parseBind(s)
	})
}

func FuzzNetworkRequests(f *testing.F) {
	f.Add([]byte(`{"Name":"n","Driver":"bridge","Labels":{"a":"b"},"IPAM":{"Driver":"default","Config":[{"Subnet":"10.9.0.0/24"}]}}`))
	f.Add([]byte(`{"Container":"web","EndpointConfig":{"Aliases":["x"]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var create network.CreateRequest
		if json.Unmarshal(body, &create) == nil {
			checkFields("create network", create, networkCreateFields)
		}
		var connect network.ConnectRequest
		if json.Unmarshal(body, &connect) == nil {
			checkFields("connect", connect, connectFields)
		}
	})
}
