package cognito_test

import (
	"fmt"

	"github.com/promptq/promptq/internal/cognito"
	"github.com/promptq/promptq/internal/jobs"
)

func ExampleBearerToken() {
	token, err := cognito.BearerToken("Bearer eyJraWQiOi.eyJzdWIiOi.c2lnbmF0dXJl")
	fmt.Println(token, err)

	_, err = cognito.BearerToken("Basic dXNlcjpwYXNz")
	fmt.Println(jobs.KindOf(err))
	// Output:
	// eyJraWQiOi.eyJzdWIiOi.c2lnbmF0dXJl <nil>
	// unauthorized
}
