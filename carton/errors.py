"""The one error type users see, and the exit codes docker and runc use."""

EXIT_CARTON = 125       # Carton itself failed (bad input, setup error)
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


class CartonError(Exception):
    """A failure with a one-line message for a person, and the exit code to leave with."""

    def __init__(self, message, exit_code=EXIT_CARTON):
        super().__init__(message)
        self.exit_code = exit_code
