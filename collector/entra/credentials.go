package entra

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/scim-stream/scim-stream/config"
)

// roundRobin spreads requests over several application registrations: Graph throttles per application and
// tenant, so n clients get about n times the budget. Each credential caches its own token.
type roundRobin struct {
	creds []azcore.TokenCredential
	next  atomic.Uint64
}

func (r *roundRobin) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	i := r.next.Add(1) - 1
	return r.creds[i%uint64(len(r.creds))].GetToken(ctx, o)
}

// credential builds the token source of a tenant. Client secrets come from auth.oauth.clients; without them
// the process environment decides, as azidentity's own credentials do: a Kubernetes federated token
// (AZURE_FEDERATED_TOKEN_FILE, workload identity), a certificate (AZURE_CLIENT_CERTIFICATE_PATH), or else the
// Azure managed identity of the host (AZURE_CLIENT_ID picks a user-assigned one).
func credential(prefix, tenantID string, auth config.Auth, o Options, loginURL string) (azcore.TokenCredential, error) {
	if o.Credential != nil {
		return o.Credential, nil
	}
	co := azcore.ClientOptions{Transport: o.HTTPClient, Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: loginURL + "/"}}
	// A custom login host is a national, private or test cloud: MSAL would otherwise ask the public cloud to
	// validate the authority and fail when that host is unknown to it or unreachable.
	custom := loginURL != DefaultLoginURL
	if auth.OAuth != nil && len(auth.OAuth.Clients) > 0 {
		rr := &roundRobin{}
		for i, c := range auth.OAuth.Clients {
			if c.ClientID == "" || c.ClientSecret.Reveal() == "" {
				return nil, fmt.Errorf("%s.auth.oauth.clients[%d]: client_id and client_secret are required (the Entra application registration's id and a secret of it)", prefix, i)
			}
			cred, err := azidentity.NewClientSecretCredential(tenantID, c.ClientID, c.ClientSecret.Reveal(),
				&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: custom})
			if err != nil {
				return nil, fmt.Errorf("%s.auth.oauth.clients[%d] (client_id %s): %w", prefix, i, c.ClientID, err)
			}
			rr.creds = append(rr.creds, cred)
		}
		return rr, nil
	}
	clientID := os.Getenv("AZURE_CLIENT_ID")
	if f := os.Getenv("AZURE_FEDERATED_TOKEN_FILE"); f != "" {
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: co, ClientID: clientID, TenantID: tenantID, TokenFilePath: f, DisableInstanceDiscovery: custom})
		if err != nil {
			return nil, fmt.Errorf("%s.auth: workload identity (AZURE_FEDERATED_TOKEN_FILE %s, AZURE_CLIENT_ID %q): %w", prefix, f, clientID, err)
		}
		return cred, nil
	}
	if p := os.Getenv("AZURE_CLIENT_CERTIFICATE_PATH"); p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s.auth: certificate AZURE_CLIENT_CERTIFICATE_PATH: %w", prefix, err)
		}
		certs, key, err := azidentity.ParseCertificates(data, []byte(os.Getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD")))
		if err != nil {
			return nil, fmt.Errorf("%s.auth: certificate %s: %w (a PEM with the private key, or a PKCS#12 file with AZURE_CLIENT_CERTIFICATE_PASSWORD)", prefix, p, err)
		}
		cred, err := azidentity.NewClientCertificateCredential(tenantID, clientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: custom})
		if err != nil {
			return nil, fmt.Errorf("%s.auth: certificate %s (AZURE_CLIENT_ID %q): %w", prefix, p, clientID, err)
		}
		return cred, nil
	}
	mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
	if clientID != "" {
		mo.ID = azidentity.ClientID(clientID)
	}
	cred, err := azidentity.NewManagedIdentityCredential(mo)
	if err != nil {
		return nil, fmt.Errorf("%s.auth: no oauth clients configured and no managed identity available (%w); configure auth.oauth.clients or run with a workload/managed identity", prefix, err)
	}
	return cred, nil
}

// scope is the client-credentials scope of a Graph host.
func scope(graphURL string) string { return strings.TrimSuffix(graphURL, "/") + "/.default" }
