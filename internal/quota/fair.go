package quota

// FairShare is how many jobs of a lane with concurrency capacity one of
// users users may run at once: capacity/users rounded up, at least 1. With
// one user it is the whole lane; rounding up leaves no slot idle while a
// user waits (some users may then hold one slot more than others).
func FairShare(capacity, users int) int {
	users = max(users, 1)
	return max(1, (capacity+users-1)/users)
}
