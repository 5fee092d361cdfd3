/** Input the caller got wrong, with a message meant for them; each transport maps it to its own answer. */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}
