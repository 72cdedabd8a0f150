"""Data layer: raw readers (mnist, mhist), the packed tensor store, and the prepare stage."""
