import { InvalidArgumentError } from 'commander';

/**
 * Parsers for numeric options: a value that is not a number in range is a
 * usage error (commander reports it; exit 2), never a NaN that runs on.
 */
export function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 86_400) throw new InvalidArgumentError('seconds: a number greater than 0, at most 86400 (e.g. 600 or 1.5)');
  return n;
}

export function positiveInt(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < 1 || n > max) throw new InvalidArgumentError(`a whole number from 1 to ${max}`);
    return n;
  };
}
