"""Operations: the process supervisor behind `make up` and other operator commands."""
