package store

// bodyOf returns the whole body of queued message id.
func bodyOf(tx *Tx, id string) ([]byte, error) {
	b, err := tx.Body(id)
	if err != nil {
		return nil, err
	}
	return b.Bytes()
}
