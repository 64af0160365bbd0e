declare module 'apache-md5' {
  /** Apache's `$apr1$` MD5 crypt. With a salt (a full `$apr1$...` hash works), it re-hashes for comparison. */
  export default function md5(password: string, salt?: string): string;
}
