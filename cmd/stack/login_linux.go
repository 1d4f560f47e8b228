package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
)

// dockerHubServer is the key docker, and go-containerregistry's keychain,
// file Docker Hub's credentials under.
const dockerHubServer = "https://index.docker.io/v1/"

// registryKey is the key of a registry's credentials in a Docker config:
// the host[:port], or dockerHubServer for Docker Hub.
func registryKey(server string) string {
	s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"), "/")
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return dockerHubServer
	}
	return s
}

// serverArg is the SERVER argument of login and logout, "" for Docker
// Hub.
func serverArg(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return ""
}

// registryHost is the host the daemon checks a login with.
func registryHost(key string) string {
	if key == dockerHubServer {
		return "index.docker.io"
	}
	return key
}

func newLoginCommand(g *globalOptions) *cobra.Command {
	var user, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry (credentials go to the Docker config, ~/.docker/config.json)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := registryKey(serverArg(args))
			if passwordStdin {
				if password != "" {
					return argsError("--password and --password-stdin are incompatible")
				}
				if user == "" {
					return argsError("--password-stdin needs --username")
				}
				data, err := io.ReadAll(g.stdin)
				if err != nil {
					return err
				}
				password = strings.TrimRight(string(data), "\r\n")
			}
			if user == "" {
				fmt.Fprint(g.stderr, "Username: ")
				user = readLine(g.stdin)
			}
			if password == "" {
				fmt.Fprint(g.stderr, "Password: ")
				password = readLine(g.stdin)
			}
			if user == "" || password == "" {
				return argsError("login needs a user name and a password")
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "POST", "/auth", api.AuthRequest{Server: registryHost(key), Username: user, Password: password}, nil); err != nil {
				return err
			}
			path := dockerConfigPath()
			plain, err := storeCredentials(path, key, user, password)
			if err != nil {
				return err
			}
			if plain {
				fmt.Fprintf(g.stderr, "WARNING! Your password will be stored unencrypted in %s.\n", path)
			}
			fmt.Fprintln(g.stdout, "Login Succeeded")
			return nil
		},
	}
	cmd.Flags().StringVarP(&user, "username", "u", "", "username")
	cmd.Flags().StringVar(&password, "password", "", "password or token (-p is the project name)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "take the password from stdin")
	return cmd
}

func newLogoutCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := registryKey(serverArg(args))
			found, err := eraseCredentials(dockerConfigPath(), key)
			if err != nil {
				return err
			}
			if !found {
				fmt.Fprintf(g.stdout, "Not logged in to %s\n", key)
				return nil
			}
			fmt.Fprintf(g.stdout, "Removing login credentials for %s\n", key)
			return nil
		},
	}
}

// dockerConfig is a Docker client configuration: its keys are kept as
// they are, so that what stack does not know (proxies, aliases) survives.
type dockerConfig map[string]json.RawMessage

type authEntry struct {
	Auth string `json:"auth,omitempty"`
}

func readDockerConfig(path string) (dockerConfig, error) {
	cfg := dockerConfig{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return cfg, nil
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("docker config %s: %w", path, err)
	}
	return cfg, nil
}

func (c dockerConfig) auths() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	if raw, ok := c["auths"]; ok {
		json.Unmarshal(raw, &out)
	}
	return out
}

// helper is the credential helper for key: credHelpers[key], else
// credsStore, else none.
func (c dockerConfig) helper(key string) string {
	var helpers map[string]string
	if raw, ok := c["credHelpers"]; ok {
		json.Unmarshal(raw, &helpers)
	}
	if h := helpers[key]; h != "" {
		return h
	}
	var store string
	if raw, ok := c["credsStore"]; ok {
		json.Unmarshal(raw, &store)
	}
	return store
}

func writeDockerConfig(path string, cfg dockerConfig) error {
	data, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// storeCredentials keeps user and password for key as docker login does:
// through the credential helper the config names (docker-credential-NAME
// store), else base64 in auths. It reports whether they went into the file.
func storeCredentials(path, key, user, password string) (plain bool, err error) {
	cfg, err := readDockerConfig(path)
	if err != nil {
		return false, err
	}
	auths := cfg.auths()
	if h := cfg.helper(key); h != "" {
		in, _ := json.Marshal(map[string]string{"ServerURL": key, "Username": user, "Secret": password})
		if err := runCredentialHelper(h, "store", in); err != nil {
			return false, err
		}
		auths[key] = json.RawMessage("{}")
	} else {
		entry, _ := json.Marshal(authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password))})
		auths[key] = entry
		plain = true
	}
	cfg["auths"], _ = json.Marshal(auths)
	return plain, writeDockerConfig(path, cfg)
}

// eraseCredentials forgets key's credentials, in the helper too.
func eraseCredentials(path, key string) (bool, error) {
	cfg, err := readDockerConfig(path)
	if err != nil {
		return false, err
	}
	auths := cfg.auths()
	_, found := auths[key]
	if h := cfg.helper(key); h != "" {
		if err := runCredentialHelper(h, "erase", []byte(key)); err == nil {
			found = true
		}
	}
	if !found {
		return false, nil
	}
	delete(auths, key)
	cfg["auths"], _ = json.Marshal(auths)
	return true, writeDockerConfig(path, cfg)
}

func runCredentialHelper(name, verb string, in []byte) error {
	cmd := exec.Command("docker-credential-"+name, verb)
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("credential helper docker-credential-%s %s: %v: %s", name, verb, err, strings.TrimSpace(out.String()))
	}
	return nil
}

func newImageTagCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			return c.Do(cmd.Context(), "POST", "/images/tag", api.TagRequest{Source: args[0], Target: args[1]}, nil)
		},
	}
}
