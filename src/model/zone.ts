/** Error zone of Naughton et al.: 1 host kernel, 2 host user space, 3 guest kernel, 4 guest user space. */
export type Zone = 1 | 2 | 3 | 4;
