package standin_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/promptq/promptq/internal/dev/standin"
)

// cognito-local's own start script held a sign-up code's log line back
// after a few codes (until the next output); each must show before the
// next sign-up.
func TestCognitoLocalPrintsEachSignUpCodeAtOnce(t *testing.T) {
	t.Parallel()
	c := standin.Cognito(t)
	s, out, pool := c.Server, c.Out, c.Pool()
	for i := range 8 {
		email := fmt.Sprintf("user%d@example.com", i)
		if _, err := s.Client.SignUp(t.Context(), &cip.SignUpInput{
			ClientId:       aws.String(pool.ClientID),
			Username:       aws.String(email),
			Password:       aws.String("Correct-horse-1"),
			UserAttributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}},
		}); err != nil {
			t.Fatal(err)
		}
		// A bound on a wait, not a speed target: the line comes at once or
		// (before the fix) never without more output.
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "Destination: "+email) {
			if time.Now().After(deadline) {
				t.Fatalf("sign-up %d: no code for %s in cognito-local's output:\n%s", i+1, email, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
