"""Errors that are the user's mistake: the scripts print them as one line, no traceback."""


class UserError(Exception):
  """Bad input, flags or files. The message names what is wrong and what was expected."""


class InputFileError(UserError):
  """A problem at a place in an input file.

  str(error) is "path:line: message", or "path: message" when there is no line.
  """

  def __init__(self, path, line, message):
    self.path = path
    self.line = line
    self.message = message
    where = path if line is None else "%s:%d" % (path, line)
    super().__init__("%s: %s" % (where, message))


class DamagedFileError(InputFileError):
  """A file of a model (a checkpoint's, a SavedModel's, best/'s) that is not whole.

  str(error) is "path: problem[; what to do]"; `problem` says what was found against
  what was expected ("cut short (1234 of 5678 bytes)").
  """

  def __init__(self, path, problem, advice=None):
    self.problem = problem
    self.advice = advice
    super().__init__(path, None, problem if not advice else "%s; %s" % (problem, advice))

  def with_advice(self, advice):
    """The same damage, with `advice` (the way out) after it."""
    return DamagedFileError(self.path, self.problem, advice)


class ShortRowError(InputFileError, IndexError):
  """A row read with fewer columns than a processor asked for.

  An IndexError too, so that processors written for Google's scripts which catch
  IndexError for an optional column keep working.
  """
