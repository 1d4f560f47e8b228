<?php
// Lists the rows of the items table; a POST with a "name" adds one.
// The connection settings come from the container's environment.
declare(strict_types=1);

function h(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES, 'UTF-8');
}

header('Content-Type: text/html; charset=utf-8');

$dsn = sprintf(
    'mysql:host=%s;dbname=%s;charset=utf8mb4',
    getenv('DB_HOST') ?: 'db',
    getenv('MARIADB_DATABASE') ?: 'app'
);
try {
    $db = new PDO($dsn, (string) getenv('MARIADB_USER'), (string) getenv('MARIADB_PASSWORD'), [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    ]);
} catch (PDOException $e) {
    http_response_code(503);
    echo '<p>database unavailable: ', h($e->getMessage()), "</p>\n";
    exit;
}

if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $name = trim((string) ($_POST['name'] ?? ''));
    if ($name === '') {
        http_response_code(400);
        echo "<p>name is required</p>\n";
        exit;
    }
    $db->prepare('INSERT INTO items (name) VALUES (?)')->execute([$name]);
    // The app's own files go to storage/, bind-mounted from the project.
    if (file_put_contents('/var/www/storage/added.log', $name . "\n", FILE_APPEND | LOCK_EX) === false) {
        http_response_code(500);
        echo "<p>storage/ is not writable by uid ", posix_getuid(), ": chown it to APP_UID</p>\n";
        exit;
    }
    header('Location: /', true, 303);
    exit;
}

$rows = $db->query('SELECT id, name FROM items ORDER BY id')->fetchAll(PDO::FETCH_ASSOC);
?>
<!doctype html>
<title>items</title>
<h1>Items</h1>
<ul>
<?php foreach ($rows as $row): ?>
<li><?= (int) $row['id'] ?>: <?= h($row['name']) ?></li>
<?php endforeach ?>
</ul>
<form method="post">
<input name="name" placeholder="new item" required>
<button>Add</button>
</form>
