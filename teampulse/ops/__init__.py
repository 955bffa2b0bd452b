"""Operations tooling: the demo supervisor."""
