"""Services own transactions: each public function here is one user action."""
