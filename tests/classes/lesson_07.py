"""Lesson 07-masked: the class and the grade each student must get (8 autograded points).

Points: patchify 2, random_masking 2, insert_mask_tokens 2, masked_loss 2 (the written question's
2 points are graded by hand).
"""

from tests.classes import Student

ALL_PATCHES = '''def masked_loss(pred, target, mask):
    return ((pred - target) ** 2).mean()'''

STUDENTS = [
    Student("reference", 8),
    Student("blank", 0, blank=True),
    # L - floor(r L) instead of round((1 - r) L): right at r = 0.75 and L = 16, one patch too many at r = 0.6;
    # and the mask tokens un-shuffled in the wrong direction (gathering with ids_shuffle, not ids_restore)
    Student("keeps-one-patch-too-many", 4, answers={"ex-random-masking": '''def random_masking(num_images, num_patches, mask_ratio, seed=None):
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    num_keep = num_patches - int(mask_ratio * num_patches)
    ids_shuffle = torch.rand(num_images, num_patches, generator=generator).argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    mask = torch.ones(num_images, num_patches)
    mask[:, :num_keep] = 0
    return ids_shuffle[:, :num_keep], torch.gather(mask, 1, ids_restore), ids_restore''',
        "ex-mask-tokens": '''def insert_mask_tokens(visible, mask_token, ids_restore):
    n, num_keep, dim = visible.shape
    shuffled = torch.cat([visible, mask_token.expand(n, ids_restore.shape[1] - num_keep, dim)], dim=1)
    ids_shuffle = ids_restore.argsort(dim=1)
    return torch.gather(shuffled, 1, ids_shuffle[..., None].expand(-1, -1, dim))'''}),
    Student("loss-over-all-patches", 6, answers={"ex-masked-loss": ALL_PATCHES}),
    Student("written-differently", 8, answers={
        "ex-patchify": '''import torch.nn.functional as F

def patchify(images, patch_size):
    # unfold lists each patch's pixels row by row, patches row by row: (N, p*p, L) -> (N, L, p*p)
    return F.unfold(images[:, None], kernel_size=patch_size, stride=patch_size).transpose(1, 2)

def unpatchify(patches, patch_size, image_shape):
    n, length, dim = patches.shape
    height, width = image_shape
    out = patches.new_zeros((n, height, width))
    cols = width // patch_size
    for index in range(length):                       # one patch at a time
        i, j = divmod(index, cols)
        out[:, i * patch_size:(i + 1) * patch_size, j * patch_size:(j + 1) * patch_size] = \\
            patches[:, index].reshape(n, patch_size, patch_size)
    return out''',
        "ex-random-masking": '''def random_masking(num_images, num_patches, mask_ratio, seed=None):
    rng = np.random.default_rng(seed)
    num_keep = int(np.round((1.0 - mask_ratio) * num_patches))
    ids_keep = np.empty((num_images, num_keep), dtype=np.int64)
    mask = np.ones((num_images, num_patches), dtype=np.float32)
    ids_restore = np.empty((num_images, num_patches), dtype=np.int64)
    for n in range(num_images):
        order = rng.permutation(num_patches)
        ids_keep[n] = order[:num_keep]
        mask[n, order[:num_keep]] = 0.0
        ids_restore[n, order] = np.arange(num_patches)   # the inverse permutation
    return ids_keep, mask, ids_restore''',
        "ex-mask-tokens": '''def insert_mask_tokens(visible, mask_token, ids_restore):
    # where the shuffled index points past the visible tokens, take the mask token
    num_keep = visible.shape[1]
    is_visible = (ids_restore < num_keep)[..., None]                     # (N, L, 1)
    index = ids_restore.clamp(max=num_keep - 1)[..., None].expand(-1, -1, visible.shape[2])
    return torch.where(is_visible, torch.gather(visible, 1, index), mask_token)''',
        "ex-masked-loss": '''def masked_loss(pred, target, mask):
    hidden = mask.bool()
    return ((pred - target) ** 2)[hidden].mean()       # every selected patch has P pixels'''}),
    Student("edits-a-test", 6, status="tampered", tamper={"test-masked-loss": "pass"},
            answers={"ex-masked-loss": ALL_PATCHES}),
]
