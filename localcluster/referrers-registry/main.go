// A registry that serves the OCI referrers API, for the tier-1 tests (docs/provenance.md says
// what it does and does not do): go-containerregistry's in-memory pkg/registry with its referrers
// endpoint on. Test infrastructure only; nothing in the product imports it.
//
//	referrers-registry 127.0.0.1:PORT
//
// With REFERRERS_REGISTRY_AUTH=user:password in its environment every request must carry that
// user's basic credentials (401 with a Basic challenge otherwise).
package main

import (
	"crypto/subtle"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	if len(os.Args) != 2 || !strings.HasPrefix(os.Args[1], "127.0.0.1:") {
		fmt.Fprintln(os.Stderr, "usage: referrers-registry 127.0.0.1:PORT")
		os.Exit(2)
	}
	var handler http.Handler = registry.New(registry.WithReferrersSupport(true))
	if auth := os.Getenv("REFERRERS_REGISTRY_AUTH"); auth != "" {
		user, password, ok := strings.Cut(auth, ":")
		if !ok || user == "" {
			fmt.Fprintln(os.Stderr, "REFERRERS_REGISTRY_AUTH must be user:password")
			os.Exit(2)
		}
		handler = basicAuth(handler, user, password)
	}
	log.Fatal(http.ListenAndServe(os.Args[1], handler))
}

func basicAuth(next http.Handler, user, password string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="referrers-registry"`)
			w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
