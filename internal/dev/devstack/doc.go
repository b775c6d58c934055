// Package devstack runs the whole product on one machine: `make dev`
// (scripts/dev) is a thin main around [Main].
//
// The code paths are the ones that run in AWS; only the endpoints differ:
//
//   - DynamoDB and SQS are kumo, in a child process (this binary again,
//     told its role by an environment variable) so that KUMO_DATA_DIR is
//     set before kumo's packages initialise and its snapshots survive a
//     restart. The child gets the port as an inherited listener, so a busy
//     port is reported by the runner, and exits when the runner's stdin
//     pipe closes, however the runner died.
//   - The Cognito user pool is cognito-local (standin.StartCognito), in a
//     child process with its data under the dev dir. Its output goes to
//     logs/cognito.log, and each confirmation code is echoed to the
//     console on one line starting with [CodeLinePrefix].
//   - The table, the queue with its dead-letter queue, and the pool with its
//     app client are created if missing, so a restart keeps users and jobs.
//   - The API (internal/app/api, as lambdas/api builds it) sits behind a server that
//     does what API Gateway's REST proxy integration does: the request
//     becomes an APIGatewayProxyRequest, the response comes back, with
//     API Gateway's 10 MB payload limit, 29 s integration timeout and 502 on
//     a failed function.
//   - The worker (as lambdas/worker builds it) is fed by internal/dev/esm, as
//     the event source mapping feeds the Lambda: batches, the function
//     timeout as the context deadline, partial batch failures, bounded
//     concurrency.
//   - The web app is web/ served statically, with /config.json generated
//     from what was created. The page reaches the user pool through the
//     web server (at [CognitoPath]), which answers ResendConfirmationCode,
//     a call cognito-local lacks, and passes everything else on.
//
// # Lifecycle
//
// One foreground process tree. A lock (flock) on the dev dir refuses a
// second runner with a [RunningError] naming the first; a busy port is a
// [PortError] naming the variable that moves it. When ready, the runner
// writes dev.json (package devinfo) and prints one line containing
// "ready". SIGINT or SIGTERM stops the poller (making the messages it was
// working on visible again), the servers and the children's process
// groups, then removes dev.json and the lock.
//
// Tests start a stack in-process with [New] and [Stack.Run]; their TestMain
// must hand the process to [Main] when [IsChild] reports it is the kumo
// child.
package devstack
