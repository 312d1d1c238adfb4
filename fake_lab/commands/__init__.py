"""Commands built on runs: matrix, bisect, soak, up, trace."""
