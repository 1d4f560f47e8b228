# php settings
PHP_MEMORY_LIMIT=256M
APP_ENV="dev"
